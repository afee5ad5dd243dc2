package webhook_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/sessiondtest"
	"github.com/sessiond/sessiond/webhook"
)

// answer is what a Send returns.
type answer struct {
	permanent bool
	err       error
}

// gateSender blocks its first Send until release is closed or the
// attempt's ctx ends (a slow receiver), then answers first (or the ctx's
// error); every later Send answers later at once.
type gateSender struct {
	calls   atomic.Int64
	entered chan struct{}
	release chan struct{}
	first   answer
	later   answer
}

func (s *gateSender) Owns(endpoint string) bool { return strings.HasPrefix(endpoint, "ssf:") }
func (s *gateSender) Send(ctx context.Context, _ sessiond.Delivery) (bool, error) {
	if s.calls.Add(1) > 1 {
		return s.later.permanent, s.later.err
	}
	close(s.entered)
	select {
	case <-s.release:
		return s.first.permanent, s.first.err
	case <-ctx.Done():
		return false, ctx.Err()
	}
}

// TestDispatcher_LostClaimFenced: node A claims a delivery and its attempt
// outlasts the lease; node B claims it again and records its outcome. A's
// outcome, written late, must not overwrite B's (a delivered delivery
// shown dead, or put back pending and sent again); A logs the lost claim
// once, at warn level, and reports no error.
func TestDispatcher_LostClaimFenced(t *testing.T) {
	boom := errors.New("receiver answered 500")
	tests := []struct {
		name   string
		first  answer // A's, once released
		stop   bool   // A's pass is stopped instead (its release path)
		later  answer // B's
		want   sessiond.DeliveryState
		wantN  int
		wantLE string
	}{
		{"B delivered, A dead", answer{true, boom}, false, answer{}, sessiond.DeliveryDelivered, 1, ""},
		{"B delivered, A retry", answer{false, boom}, false, answer{}, sessiond.DeliveryDelivered, 1, ""},
		{"B delivered, A stopped", answer{}, true, answer{}, sessiond.DeliveryDelivered, 1, ""},
		{"B retry, A delivered", answer{}, false, answer{false, boom}, sessiond.DeliveryPending, 1, boom.Error()},
		{"B dead, A retry", answer{false, boom}, false, answer{true, boom}, sessiond.DeliveryDead, 1, boom.Error()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			ob := newOutbox(t)
			clock := sessiondtest.NewClock(t0)
			s := &gateSender{entered: make(chan struct{}), release: make(chan struct{}), first: tt.first, later: tt.later}
			var logs bytes.Buffer
			var observed atomic.Int64 // A's outcomes counted
			a := newDispatcher(t, webhook.Options{Outbox: ob, Clock: clock, Senders: []webhook.Sender{s},
				Logger:   slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
				Observer: func(string, string) { observed.Add(1) }})
			b := newDispatcher(t, webhook.Options{Outbox: ob, Clock: clock, Senders: []webhook.Sender{s}})
			if err := ob.EnqueueDeliveries(ctx, sessiond.Delivery{ID: "msg_1", Endpoint: "ssf:x", EventID: "e1",
				Payload: []byte(`{}`), State: sessiond.DeliveryPending, NextAttemptAt: t0, CreatedAt: t0, UpdatedAt: t0}); err != nil {
				t.Fatal(err)
			}
			actx, stop := context.WithCancel(ctx)
			defer stop()
			errA := make(chan error, 1)
			go func() {
				_, err := a.DeliverDue(actx)
				errA <- err
			}()
			<-s.entered
			clock.Advance(webhook.DefaultLease + time.Second) // A's lease is over
			if n := deliverDue(t, b); n != 1 {
				t.Fatalf("B's DeliverDue past A's lease claimed %d; want 1", n)
			}
			if tt.stop {
				stop()
			} else {
				close(s.release)
			}
			if err := <-errA; err != nil {
				t.Errorf("A's DeliverDue = %v; want nil (a lost claim is no error)", err)
			}
			got := list(t, ob, tt.want)
			if len(got) != 1 {
				t.Fatalf("after A's late outcome: %d %s deliveries; want B's outcome, %s, kept", len(got), tt.want, tt.want)
			}
			if got[0].Attempts != tt.wantN || got[0].LastError != tt.wantLE {
				t.Errorf("delivery = attempts %d, last error %q; want B's: %d, %q", got[0].Attempts, got[0].LastError, tt.wantN, tt.wantLE)
			}
			if n := strings.Count(logs.String(), `"msg":"webhook claim lost; outcome not recorded"`); n != 1 ||
				!strings.Contains(logs.String(), `"level":"WARN"`) || !strings.Contains(logs.String(), `"webhook_id":"msg_1"`) {
				t.Errorf("A logged the lost claim %d times; want once at WARN with webhook_id; logs:\n%s", n, logs.String())
			}
			// A's outcome was dropped: no line nor count says the delivery
			// ended so (a dead one would fire the dead-delivery alert for
			// a delivery B delivered).
			for _, line := range []string{"webhook delivered", "webhook delivery dead", "webhook delivery failed; will retry"} {
				if strings.Contains(logs.String(), `"msg":"`+line+`"`) {
					t.Errorf("A logged %q for the outcome it did not record; logs:\n%s", line, logs.String())
				}
			}
			if n := observed.Load(); n != 0 {
				t.Errorf("A's Observer counted %d outcomes; want 0: its outcome was not recorded", n)
			}
		})
	}
}
