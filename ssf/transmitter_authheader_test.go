package ssf_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/jwttoken"
	"github.com/sessiond/sessiond/jwttoken/signing"
	"github.com/sessiond/sessiond/memstore"
	"github.com/sessiond/sessiond/ssf"
)

// TestTransmitter_UpdateKeepsAuthorization: a push stream's
// authorization_header is never answered, so a receiver that reads its
// stream, changes a member and sends it back with PATCH (SSF 1.0
// §8.1.1.3: what a PATCH leaves out is unchanged) cannot send the header
// back: the header stays while the delivery's method and endpoint_url do.
// It once went, and every later push went out without it. A delivery to
// another endpoint never takes the old header along (the secret would go
// to the new host), and a PUT, a replacement, drops what it leaves out
// (§8.1.1.4).
func TestTransmitter_UpdateKeepsAuthorization(t *testing.T) {
	ctx := context.Background()
	st := memstore.New()
	ring, err := jwttoken.NewRing(time.Now(), jwttoken.RingOptions{MaxTokenLifetime: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	kek, err := signing.ParseKEK([]byte(base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{5}, 32))))
	if err != nil {
		t.Fatal(err)
	}
	auth := func(_ context.Context, bearer string) (string, bool, error) { return bearer, false, nil }
	for _, sealer := range []ssf.Sealer{nil, kekSealer{kek}} {
		tx, err := ssf.NewTransmitter(ssf.TransmitterOptions{Issuer: "https://sessiond.example.com", Meta: st, Outbox: st,
			Signer: ring, AllowHTTP: true, AllowPrivate: true, Authenticate: auth, Sealer: sealer}) // the receivers are on loopback
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			got = append(got, r.Header.Get("Authorization"))
			w.WriteHeader(http.StatusAccepted)
		}))
		t.Cleanup(rcv.Close)
		other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			got = append(got, "other:"+r.Header.Get("Authorization"))
			w.WriteHeader(http.StatusAccepted)
		}))
		t.Cleanup(other.Close)
		srv := httptest.NewServer(tx)
		t.Cleanup(srv.Close)
		streams := srv.URL + ssf.PathStreams
		const header = "Bearer push-secret-5e1f"
		var created map[string]any
		if code := txCall(t, http.MethodPost, streams, "key-a", `{"delivery":{"method":"urn:ietf:rfc:8935","endpoint_url":"`+rcv.URL+`","authorization_header":"`+header+`"}}`, &created); code != http.StatusCreated {
			t.Fatalf("create = %d", code)
		}
		id := created["stream_id"].(string)
		push := func(step string) string {
			t.Helper()
			e := sessiond.Event{ID: sessiond.NewEventID(time.Now()), Time: time.Now(), Type: sessiond.EventSessionRevoked, Subject: "alice", SessionID: "s1"}
			ds, err := tx.Deliveries(ctx, e)
			if err != nil || len(ds) != 1 {
				t.Fatalf("%s: Deliveries = %v, %v", step, ds, err)
			}
			n := len(got)
			if perm, err := tx.Send(ctx, ds[0]); err != nil || perm || len(got) != n+1 {
				t.Fatalf("%s: Send = %v, %v (receivers got %q)", step, perm, err, got)
			}
			return got[n]
		}
		echo := func(method string, delivery map[string]any) int {
			t.Helper()
			body, _ := json.Marshal(map[string]any{"stream_id": id, "delivery": delivery, "events_requested": created["events_requested"], "description": "changed"})
			return txCall(t, method, streams, "key-a", string(body), nil)
		}
		read := func() map[string]any {
			t.Helper()
			var s map[string]any
			if code := txCall(t, http.MethodGet, streams+"?stream_id="+id, "key-a", "", &s); code != http.StatusOK {
				t.Fatalf("read = %d", code)
			}
			return s["delivery"].(map[string]any)
		}

		if code := echo(http.MethodPatch, read()); code != http.StatusOK {
			t.Fatalf("PATCH sending the delivery back = %d", code)
		}
		if h := push("after a PATCH sending the delivery back"); h != header {
			t.Errorf("sealer %v: after a PATCH sending the delivery back the push carried %q; want the stream's header", sealer != nil, h)
		}
		moved := map[string]any{"method": "urn:ietf:rfc:8935", "endpoint_url": other.URL}
		if code := echo(http.MethodPatch, moved); code != http.StatusOK {
			t.Fatalf("PATCH to another endpoint = %d", code)
		}
		if h := push("after a PATCH to another endpoint"); h != "other:" {
			t.Errorf("sealer %v: the push to the new endpoint carried %q; want no header (the old one is the old receiver's)", sealer != nil, h)
		}
		back := map[string]any{"method": "urn:ietf:rfc:8935", "endpoint_url": rcv.URL, "authorization_header": header}
		if code := echo(http.MethodPatch, back); code != http.StatusOK {
			t.Fatalf("PATCH back with the header = %d", code)
		}
		if code := echo(http.MethodPut, read()); code != http.StatusOK {
			t.Fatalf("PUT sending the delivery back = %d", code)
		}
		if h := push("after a PUT sending the delivery back"); h != "" {
			t.Errorf("sealer %v: after a PUT without the header the push carried %q; want none (a replacement drops it)", sealer != nil, h)
		}
		if code := txCall(t, http.MethodDelete, streams+"?stream_id="+id, "key-a", "", nil); code != http.StatusNoContent {
			t.Fatalf("delete = %d", code)
		}
	}
}
