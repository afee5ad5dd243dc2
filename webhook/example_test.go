package webhook_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/memstore"
	"github.com/sessiond/sessiond/webhook"
)

func ExampleSign() {
	key, _ := webhook.ParseSecret("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
	fmt.Println(webhook.Sign(key, "msg_p5jXN8AQM9LWM0D4loKWxJek", time.Unix(1614265330, 0), []byte(`{"test": 2432232314}`)))
	// Output: v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=
}

// A receiver checks every request before it trusts the event.
func ExampleVerify() {
	key, _ := webhook.ParseSecret("whsec_LXkri46MJ3V78GgoVqoIyNa+w81bLdKn7e8M0yf2USc=")
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		if err != nil {
			http.Error(w, "cannot read body", http.StatusBadRequest)
			return
		}
		// Verify the raw bytes, before decoding the JSON.
		if err := webhook.Verify(key, r.Header, body, webhook.DefaultTolerance, time.Now()); err != nil {
			http.Error(w, "bad signature", http.StatusUnauthorized)
			return
		}
		// Use r.Header.Get("webhook-id") to drop duplicates, then handle the event.
		w.WriteHeader(http.StatusNoContent)
	})

	body := []byte(`{"type":"session.revoked","timestamp":"2030-03-04T05:06:07Z","data":{}}`)
	for _, k := range [][]byte{key, []byte("not the endpoint's secret, 32 b.")} {
		req := httptest.NewRequest(http.MethodPost, "/hooks/sessiond", bytes.NewReader(body))
		now := time.Now()
		req.Header.Set("webhook-id", "msg_example")
		req.Header.Set("webhook-timestamp", fmt.Sprint(now.Unix()))
		req.Header.Set("webhook-signature", webhook.Sign(k, "msg_example", now, body))
		rec := httptest.NewRecorder()
		handler.ServeHTTP(rec, req)
		fmt.Println(rec.Code)
	}
	// Output:
	// 204
	// 401
}

func ExampleDispatcher() {
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Println("received", r.Header.Get("webhook-id") != "")
	}))
	defer receiver.Close()

	key, _ := webhook.ParseSecret("whsec_LXkri46MJ3V78GgoVqoIyNa+w81bLdKn7e8M0yf2USc=")
	store := memstore.New() // any store sessiond ships is an Outbox
	d, err := webhook.New(webhook.Options{
		Outbox: store,
		Endpoints: []webhook.Endpoint{{
			Name: "siem", URL: receiver.URL, Secret: key,
			Events: []sessiond.EventType{sessiond.EventSessionRevoked, sessiond.EventRefreshReused},
		}},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	ctx := context.Background()
	// The Manager calls Record through its EventSink; Run delivers in the
	// background. Here, one pass by hand.
	_ = d.Record(ctx, sessiond.Event{Type: sessiond.EventSessionRevoked, Subject: "alice"})
	_ = d.Record(ctx, sessiond.Event{Type: sessiond.EventSessionCreated, Subject: "alice"}) // not selected
	n, err := d.DeliverDue(ctx)
	fmt.Println(n, err)
	// Output:
	// received true
	// 1 <nil>
}
