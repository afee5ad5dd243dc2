package webhook_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/sessiondtest"
	"github.com/sessiond/sessiond/webhook"
)

// holdError is a Sender's answer for a delivery it holds (as the ssf
// package's for a paused stream).
type holdError struct{ after time.Duration }

func (e holdError) Error() string          { return "held" }
func (e holdError) HoldFor() time.Duration { return e.after }

// holdingSender holds every delivery while hold is set, else delivers.
type holdingSender struct {
	hold  atomic.Bool
	calls atomic.Int64
}

func (s *holdingSender) Owns(string) bool { return true }
func (s *holdingSender) Send(context.Context, sessiond.Delivery) (bool, error) {
	s.calls.Add(1)
	if s.hold.Load() {
		return false, holdError{time.Minute}
	}
	return false, nil
}

// TestDispatcher_SenderHolds: a delivery its Sender holds is no attempt:
// it is put back pending, attempts unchanged, due after the Sender's delay
// and not before, reported to no Observer, however many passes find it;
// and it is delivered once the Sender lets it go.
func TestDispatcher_SenderHolds(t *testing.T) {
	ctx := context.Background()
	ob := newOutbox(t)
	clock := sessiondtest.NewClock(t0)
	s := &holdingSender{}
	s.hold.Store(true)
	var observed atomic.Int64
	d := newDispatcher(t, webhook.Options{Outbox: ob, Clock: clock, Senders: []webhook.Sender{s},
		Observer: func(string, string) { observed.Add(1) }})
	if err := ob.EnqueueDeliveries(ctx, sessiond.Delivery{ID: "msg_1", Endpoint: "ssf:x", EventID: "e1",
		Payload: []byte(`{}`), State: sessiond.DeliveryPending, NextAttemptAt: t0, CreatedAt: t0, UpdatedAt: t0}); err != nil {
		t.Fatal(err)
	}
	for range 2 * webhook.DefaultMaxAttempts {
		deliverDue(t, d)
		if n, err := d.DeliverDue(ctx); n != 0 || err != nil { // not due again before its delay
			t.Fatalf("DeliverDue right after a hold = %d, %v; want nothing due", n, err)
		}
		clock.Advance(time.Minute)
	}
	p := pending(t, ob, "msg_1")
	if p.Attempts != 0 || observed.Load() != 0 || s.calls.Load() != 2*webhook.DefaultMaxAttempts {
		t.Errorf("after %d holds: attempts %d, observed %d, Send called %d times; want 0, 0, %d",
			2*webhook.DefaultMaxAttempts, p.Attempts, observed.Load(), s.calls.Load(), 2*webhook.DefaultMaxAttempts)
	}
	s.hold.Store(false)
	deliverDue(t, d)
	if got := list(t, ob, sessiond.DeliveryDelivered); len(got) != 1 {
		t.Errorf("once released: %d delivered; want 1", len(got))
	}
}

// fixedHold holds every delivery for after.
type fixedHold struct{ after time.Duration }

func (s fixedHold) Owns(string) bool { return true }
func (s fixedHold) Send(context.Context, sessiond.Delivery) (bool, error) {
	return false, holdError{s.after}
}

// TestDispatcher_SenderHoldIsAtLeastBaseBackoff: a Sender's hold is never
// shorter than the dispatcher's BaseBackoff, nor longer than MaxBackoff. A
// library user who sets a BaseBackoff above the ssf package's holds (a
// minute, a paused stream's or a SET no node can sign) had each held
// delivery rewritten more often than the dispatcher was told to retry.
func TestDispatcher_SenderHoldIsAtLeastBaseBackoff(t *testing.T) {
	for _, tc := range []struct {
		name       string
		hold, base time.Duration
		want       time.Duration
	}{
		{"no delay given", 0, 0, webhook.DefaultBaseBackoff},
		{"below the default BaseBackoff", time.Second, 0, webhook.DefaultBaseBackoff},
		{"above BaseBackoff", time.Minute, 5 * time.Second, time.Minute},
		{"below BaseBackoff", time.Minute, 2 * time.Minute, 2 * time.Minute},
		{"above MaxBackoff", time.Hour, 0, webhook.DefaultMaxBackoff},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ob := newOutbox(t)
			clock := sessiondtest.NewClock(t0)
			d := newDispatcher(t, webhook.Options{Outbox: ob, Clock: clock, BaseBackoff: tc.base, Senders: []webhook.Sender{fixedHold{tc.hold}}})
			if err := ob.EnqueueDeliveries(context.Background(), sessiond.Delivery{ID: "msg_1", Endpoint: "ssf:x", EventID: "e1",
				Payload: []byte(`{}`), State: sessiond.DeliveryPending, NextAttemptAt: t0, CreatedAt: t0, UpdatedAt: t0}); err != nil {
				t.Fatal(err)
			}
			deliverDue(t, d)
			if got := pending(t, ob, "msg_1").NextAttemptAt.Sub(t0); got != tc.want {
				t.Errorf("Sender held for %v, BaseBackoff %v: due again after %v; want %v", tc.hold, tc.base, got, tc.want)
			}
		})
	}
}
