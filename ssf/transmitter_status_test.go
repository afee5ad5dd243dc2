package ssf_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/sessiondtest"
	"github.com/sessiond/sessiond/ssf"
	"github.com/sessiond/sessiond/webhook"
)

// revokedEvent is a session revocation that every unfiltered stream gets.
func revokedEvent(id string) sessiond.Event {
	return sessiond.Event{ID: id, Time: time.Now(), Type: sessiond.EventSessionRevoked, Subject: "alice",
		SessionID: sessiond.SessionID("s-" + id), Details: map[string]any{"reason": "logout"}}
}

// pollAnswer is an RFC 8936 poll response.
type pollAnswer struct {
	Sets          map[string]string `json:"sets"`
	MoreAvailable bool              `json:"moreAvailable"`
}

// setClaimsOf decodes the claims of a compact JWS, unverified.
func setClaimsOf(t *testing.T, jws string) map[string]any {
	t.Helper()
	parts := strings.Split(jws, ".")
	if len(parts) != 3 {
		t.Fatalf("not a compact JWS: %q", jws)
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// jtiServer answers 202 to every push and records the jti of each SET.
func jtiServer(t *testing.T) (*httptest.Server, func() []string) {
	t.Helper()
	var mu sync.Mutex
	var jtis []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		jti, _ := setClaimsOf(t, string(b))["jti"].(string)
		mu.Lock()
		jtis = append(jtis, jti)
		mu.Unlock()
		w.WriteHeader(http.StatusAccepted)
	}))
	t.Cleanup(srv.Close)
	return srv, func() []string {
		mu.Lock()
		defer mu.Unlock()
		return append([]string(nil), jtis...)
	}
}

// createStream creates a stream of key-a with body and returns its ID.
func createStream(t *testing.T, srv *httptest.Server, body string) string {
	t.Helper()
	var s struct {
		ID string `json:"stream_id"`
	}
	if code := txCall(t, http.MethodPost, srv.URL+ssf.PathStreams, "key-a", body, &s); code != http.StatusCreated {
		t.Fatalf("create = %d", code)
	}
	return s.ID
}

// setStatus sets the status of key-a's stream id.
func setStatus(t *testing.T, srv *httptest.Server, id, status string) {
	t.Helper()
	if code := txCall(t, http.MethodPost, srv.URL+ssf.PathStatus, "key-a", `{"stream_id":"`+id+`","status":"`+status+`"}`, nil); code != http.StatusOK {
		t.Fatalf("status %s = %d", status, code)
	}
}

// pollNow polls key-a's stream id with returnImmediately.
func pollNow(t *testing.T, srv *httptest.Server, id string) pollAnswer {
	t.Helper()
	var r pollAnswer
	if code := txCall(t, http.MethodPost, srv.URL+ssf.PathPoll+id, "key-a", `{"returnImmediately":true}`, &r); code != http.StatusOK {
		t.Fatalf("poll = %d", code)
	}
	return r
}

// TestTransmitter_PausedPushHoldsSET: SSF 1.0 §8.1.2: a paused stream's
// transmitter holds its events and sends them once enabled again. Send
// answers a paused push stream with an error wrapping ErrPaused whose
// HoldFor asks the dispatcher to put the delivery back unsent (no
// attempt), and pushes nothing; once enabled, the same delivery is pushed.
func TestTransmitter_PausedPushHoldsSET(t *testing.T) {
	ctx := context.Background()
	rcv, pushed := jtiServer(t)
	tx, srv, _ := newTransmitterServer(t)
	id := createStream(t, srv, `{"delivery":{"method":"urn:ietf:rfc:8935","endpoint_url":"`+rcv.URL+`"}}`)
	setStatus(t, srv, id, ssf.StatusPaused)
	ds, err := tx.Deliveries(ctx, revokedEvent("evt_paused"))
	if err != nil || len(ds) != 1 {
		t.Fatalf("Deliveries for a paused stream = %v, %v; want one, held", ds, err)
	}
	perm, err := tx.Send(ctx, ds[0])
	if perm || !errors.Is(err, ssf.ErrPaused) {
		t.Fatalf("Send to a paused stream = %v, %v; want not permanent, ErrPaused", perm, err)
	}
	h, ok := errors.AsType[interface {
		error
		HoldFor() time.Duration
	}](err)
	if !ok || h.HoldFor() <= 0 {
		t.Errorf("Send's error for a paused stream has no positive HoldFor (%v): the dispatcher would count it as an attempt", ok)
	}
	if got := pushed(); len(got) != 0 {
		t.Errorf("a paused stream pushed %d SETs", len(got))
	}
	setStatus(t, srv, id, ssf.StatusEnabled)
	if perm, err := tx.Send(ctx, ds[0]); perm || err != nil {
		t.Fatalf("Send once enabled = %v, %v; want delivered", perm, err)
	}
	if got := pushed(); len(got) != 1 || "ssf_"+got[0] != ds[0].ID {
		t.Errorf("pushed jtis once enabled = %v; want the held SET's", got)
	}
}

// TestTransmitter_PausedPollQueues: a paused poll stream's SETs go to its
// queue as always (the delivery ends there), the poll endpoint hands out
// none while paused, and all of them once enabled again.
func TestTransmitter_PausedPollQueues(t *testing.T) {
	ctx := context.Background()
	tx, srv, _ := newTransmitterServer(t)
	id := createStream(t, srv, `{"delivery":{"method":"urn:ietf:rfc:8936"}}`)
	setStatus(t, srv, id, ssf.StatusPaused)
	ds, err := tx.Deliveries(ctx, revokedEvent("evt_1"))
	if err != nil || len(ds) != 1 {
		t.Fatalf("Deliveries = %v, %v", ds, err)
	}
	if perm, err := tx.Send(ctx, ds[0]); perm || err != nil {
		t.Fatalf("Send to a paused poll stream = %v, %v; want queued", perm, err)
	}
	if r := pollNow(t, srv, id); len(r.Sets) != 0 || r.MoreAvailable {
		t.Errorf("poll of a paused stream = %+v; want nothing", r)
	}
	setStatus(t, srv, id, ssf.StatusEnabled)
	if r := pollNow(t, srv, id); len(r.Sets) != 1 || r.Sets[strings.TrimPrefix(ds[0].ID, "ssf_")] == "" {
		t.Errorf("poll once enabled = %+v; want the SET queued while paused", r)
	}
}

// TestTransmitter_DisabledPollStreamServesNone: SSF 1.0 §8.1.2: over a
// disabled stream nothing is transmitted nor held. The SETs queued when a
// poll stream is disabled are dropped: its poll hands out none, nor does
// it once the stream is enabled again.
func TestTransmitter_DisabledPollStreamServesNone(t *testing.T) {
	ctx := context.Background()
	tx, srv, _ := newTransmitterServer(t)
	id := createStream(t, srv, `{"delivery":{"method":"urn:ietf:rfc:8936"}}`)
	ds, err := tx.Deliveries(ctx, revokedEvent("evt_1"))
	if err != nil || len(ds) != 1 {
		t.Fatalf("Deliveries = %v, %v", ds, err)
	}
	if _, err := tx.Send(ctx, ds[0]); err != nil {
		t.Fatalf("Send to a poll stream = %v", err)
	}
	setStatus(t, srv, id, ssf.StatusDisabled)
	if r := pollNow(t, srv, id); len(r.Sets) != 0 {
		t.Errorf("poll of a disabled stream returned %d SETs; want none", len(r.Sets))
	}
	setStatus(t, srv, id, ssf.StatusEnabled)
	if r := pollNow(t, srv, id); len(r.Sets) != 0 {
		t.Errorf("poll after disable and enable returned %d SETs queued before the disable; want them dropped", len(r.Sets))
	}
}

// TestTransmitter_PollToPushKeepsQueuedSETs: a stream switched from poll
// to push (PATCH or PUT) gets the SETs still queued for polling pushed,
// each with its jti, through the outbox; its poll queue is left empty.
func TestTransmitter_PollToPushKeepsQueuedSETs(t *testing.T) {
	for _, method := range []string{http.MethodPatch, http.MethodPut} {
		t.Run(method, func(t *testing.T) {
			ctx := context.Background()
			rcv, pushed := jtiServer(t)
			clock := sessiondtest.NewClock(time.Now())
			tx, srv, st := newTransmitterServerWith(t, func(o *ssf.TransmitterOptions) { o.Clock = clock })
			id := createStream(t, srv, `{"delivery":{"method":"urn:ietf:rfc:8936"}}`)
			var want []string
			for _, evt := range []string{"evt_1", "evt_2"} {
				ds, err := tx.Deliveries(ctx, revokedEvent(evt))
				if err != nil || len(ds) != 1 {
					t.Fatalf("Deliveries = %v, %v", ds, err)
				}
				if err := st.EnqueueDeliveries(ctx, ds...); err != nil {
					t.Fatal(err)
				}
				want = append(want, strings.TrimPrefix(ds[0].ID, "ssf_"))
			}
			d, err := webhook.New(webhook.Options{Outbox: st, Senders: []webhook.Sender{tx}, Clock: clock})
			if err != nil {
				t.Fatal(err)
			}
			if n, err := d.DeliverDue(ctx); n != 2 || err != nil { // into the poll queue
				t.Fatalf("DeliverDue = %d, %v", n, err)
			}
			body := `{"stream_id":"` + id + `","delivery":{"method":"urn:ietf:rfc:8935","endpoint_url":"` + rcv.URL + `"},"events_requested":[]}`
			if code := txCall(t, method, srv.URL+ssf.PathStreams, "key-a", body, nil); code != http.StatusOK {
				t.Fatalf("switch to push = %d", code)
			}
			if n, err := d.DeliverDue(ctx); n != 2 || err != nil {
				t.Fatalf("DeliverDue after the switch = %d, %v; want the 2 queued SETs", n, err)
			}
			got := pushed()
			if len(got) != 2 || !sameJTIs(got, want) {
				t.Errorf("pushed jtis after the switch = %v; want %v", got, want)
			}
			// Back to poll: nothing left in the queue to hand out twice.
			if code := txCall(t, http.MethodPatch, srv.URL+ssf.PathStreams, "key-a",
				`{"stream_id":"`+id+`","delivery":{"method":"urn:ietf:rfc:8936"}}`, nil); code != http.StatusOK {
				t.Fatalf("switch back to poll = %d", code)
			}
			if r := pollNow(t, srv, id); len(r.Sets) != 0 {
				t.Errorf("poll after pushing the queue = %d SETs; want none", len(r.Sets))
			}
		})
	}
}

func sameJTIs(got, want []string) bool {
	seen := map[string]int{}
	for _, j := range got {
		seen[j]++
	}
	for _, j := range want {
		if seen[j] != 1 {
			return false
		}
	}
	return len(got) == len(want)
}
