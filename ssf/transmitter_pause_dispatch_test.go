package ssf_test

import (
	"context"
	"testing"
	"time"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/sessiondtest"
	"github.com/sessiond/sessiond/ssf"
	"github.com/sessiond/sessiond/webhook"
)

// TestTransmitter_PauseOutlastsRetries: a push stream paused for longer
// than the dispatcher's whole retry schedule (8 attempts, 8.5 minutes of
// backoff ceilings) keeps its SET: each pass puts it back unsent, with no
// attempt counted, and once the stream is enabled it is pushed (SSF 1.0
// §8.1.2).
func TestTransmitter_PauseOutlastsRetries(t *testing.T) {
	ctx := context.Background()
	rcv, pushed := jtiServer(t)
	clock := sessiondtest.NewClock(time.Now())
	tx, srv, st := newTransmitterServerWith(t, func(o *ssf.TransmitterOptions) { o.Clock = clock })
	id := createStream(t, srv, `{"delivery":{"method":"urn:ietf:rfc:8935","endpoint_url":"`+rcv.URL+`"}}`)
	setStatus(t, srv, id, ssf.StatusPaused)
	ds, err := tx.Deliveries(ctx, revokedEvent("evt_paused"))
	if err != nil || len(ds) != 1 {
		t.Fatalf("Deliveries for a paused stream = %v, %v; want one, held", ds, err)
	}
	if err := st.EnqueueDeliveries(ctx, ds...); err != nil {
		t.Fatal(err)
	}
	d, err := webhook.New(webhook.Options{Outbox: st, Senders: []webhook.Sender{tx}, Clock: clock})
	if err != nil {
		t.Fatal(err)
	}
	// An hour paused, a pass every minute: far past 8 attempts had each
	// pass been one.
	for range 60 {
		if _, err := d.DeliverDue(ctx); err != nil {
			t.Fatal(err)
		}
		clock.Advance(time.Minute)
	}
	pending, err := st.ListDeliveries(ctx, sessiond.DeliveryPending, 10)
	if err != nil || len(pending) != 1 || pending[0].Attempts != 0 {
		t.Fatalf("after an hour paused: pending %v, %v; want the SET pending with 0 attempts", pending, err)
	}
	if got := pushed(); len(got) != 0 {
		t.Fatalf("a paused stream pushed %d SETs", len(got))
	}
	setStatus(t, srv, id, ssf.StatusEnabled)
	for range 3 {
		if _, err := d.DeliverDue(ctx); err != nil {
			t.Fatal(err)
		}
		clock.Advance(time.Minute)
	}
	if dead, _ := st.ListDeliveries(ctx, sessiond.DeliveryDead, 10); len(dead) != 0 {
		t.Errorf("the SET held while paused ended dead: %q after %d attempts", dead[0].LastError, dead[0].Attempts)
	}
	if got := pushed(); len(got) != 1 || "ssf_"+got[0] != ds[0].ID {
		t.Errorf("pushed once enabled = %v; want the SET held while paused", got)
	}
}
