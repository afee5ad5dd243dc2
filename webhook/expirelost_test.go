package webhook_test

import (
	"context"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/memstore"
	"github.com/sessiond/sessiond/sessiondtest"
	"github.com/sessiond/sessiond/webhook"

	"github.com/sessiond/sessiond/internal/testenv"
)

// lostDeadClaims is an outbox whose claims of a delivery ended dead are
// lost: another node's claim took it since (its lease ran out), so the
// fenced write records nothing.
type lostDeadClaims struct{ *memstore.Store }

func (o lostDeadClaims) FinishClaimed(ctx context.Context, claimed sessiond.Delivery, state sessiond.DeliveryState, attempts int, next time.Time, lastErr string, at time.Time) error {
	if state == sessiond.DeliveryDead {
		return sessiond.ErrConflict
	}
	return o.Store.FinishClaimed(ctx, claimed, state, attempts, next, lastErr, at)
}

// TestDispatcher_MaxPendingAgeLostClaim: a delivery ended dead past its
// endpoint's max pending age is, as an attempt's outcome, neither logged
// as dead nor counted when its claim was lost (the outcome not recorded):
// the dead-delivery alert must not fire for a delivery another node holds.
func TestDispatcher_MaxPendingAgeLostClaim(t *testing.T) {
	for _, tt := range []struct {
		name     string
		lost     bool
		wantDead bool
	}{
		{"claim held", false, true},
		{"claim lost", true, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			clock := sessiondtest.NewClock(t0)
			st := memstore.New()
			t.Cleanup(func() { st.Close() })
			var ob sessiond.Outbox = st
			if tt.lost {
				ob = lostDeadClaims{st}
			}
			obs := &observer{}
			var logs testenv.SyncBuffer
			d := newDispatcher(t, webhook.Options{Outbox: ob, Clock: clock, Observer: obs.observe, Senders: []webhook.Sender{&downSender{}},
				Logger: slog.New(slog.NewJSONHandler(&logs, nil))})
			d.SetJitter(func(n int64) int64 { return n - 1 })
			enqueue := func(id string, due time.Time) {
				now := clock.Now()
				if err := ob.EnqueueDeliveries(ctx, sessiond.Delivery{ID: id, Endpoint: "ssf:stream", EventID: "e-" + id,
					Payload: []byte(`{}`), State: sessiond.DeliveryPending, NextAttemptAt: due, CreatedAt: now, UpdatedAt: now}); err != nil {
					t.Fatal(err)
				}
			}
			// As TestDispatcher_MaxPendingAge: the endpoint cools down,
			// the second delivery is put back unsent, and much later it
			// meets the cooling down past its max pending age.
			enqueue("msg_first", t0)
			deliverDue(t, d)
			enqueue("msg_second", t0)
			deliverDue(t, d)
			clock.Advance(webhook.DefaultMaxPendingAge + time.Minute)
			enqueue("msg_probe", t0.Add(-time.Hour))
			deliverDue(t, d)
			deliverDue(t, d)

			logged := strings.Contains(logs.String(), `"msg":"webhook delivery dead"`)
			counted := slices.Contains(obs.calls(), "ssf:stream dead")
			if logged != tt.wantDead || counted != tt.wantDead {
				t.Errorf("dead logged %v, counted %v (Observer %q); want both %v\n%s", logged, counted, obs.calls(), tt.wantDead, logs.String())
			}
			if tt.lost && !strings.Contains(logs.String(), "webhook claim lost") {
				t.Errorf("no line says the claim was lost\n%s", logs.String())
			}
		})
	}
}
