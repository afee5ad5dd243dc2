package webhook_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/memstore"
	"github.com/sessiond/sessiond/sessiondtest"
	"github.com/sessiond/sessiond/sqlitestore"
	"github.com/sessiond/sessiond/webhook"

	"github.com/sessiond/sessiond/internal/testenv"
)

// downSender is a Shared Signals stream whose receiver answers every push
// 503 with Retry-After 10 minutes (the ssf package's error shape).
type downSender struct {
	mu    sync.Mutex
	calls []string
}

type downError struct{}

func (downError) Error() string { return "push: receiver answered 503" }
func (downError) HTTPStatus() (int, time.Duration) {
	return http.StatusServiceUnavailable, 10 * time.Minute
}
func (s *downSender) Owns(endpoint string) bool { return strings.HasPrefix(endpoint, "ssf:") }
func (s *downSender) Send(_ context.Context, del sessiond.Delivery) (bool, error) {
	s.mu.Lock()
	s.calls = append(s.calls, del.ID)
	s.mu.Unlock()
	return false, downError{}
}

// TestDispatcher_MaxPendingAge: while its endpoint cools down, a claimed
// delivery created longer than the endpoint's max pending age ago is dead,
// not sent and not put back (a receiver gone for good would otherwise keep
// its deliveries pending, re-claimed, forever: being put back is no
// attempt); a younger one is put back as before. Shared Signals streams
// (a Sender's endpoints) are bounded by DefaultMaxPendingAge.
func TestDispatcher_MaxPendingAge(t *testing.T) {
	stores := []struct {
		name string
		open func(t *testing.T) sessiond.Outbox
	}{
		{"memory", func(t *testing.T) sessiond.Outbox {
			st := memstore.New()
			t.Cleanup(func() { st.Close() })
			return st
		}},
		{"sqlite", func(t *testing.T) sessiond.Outbox {
			st, err := sqlitestore.New(context.Background(), filepath.Join(t.TempDir(), "sessiond.db"), sqlitestore.Options{})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { st.Close() })
			return st
		}},
	}
	tests := []struct {
		name     string
		maxAge   time.Duration // the endpoint's MaxPendingAge; 0: the default
		sender   bool          // the endpoint is a Sender's (ssf:…), not a webhook
		advance  time.Duration // from t0 to the claim of the second delivery
		wantDead bool
	}{
		{"webhook, older than its bound", 5 * time.Minute, false, 6 * time.Minute, true},
		{"webhook, within its bound", 5 * time.Minute, false, 4 * time.Minute, false},
		{"webhook, older than the default", 0, false, webhook.DefaultMaxPendingAge + time.Minute, true},
		{"webhook, within the default", 0, false, webhook.DefaultMaxPendingAge - time.Minute, false},
		{"sender, older than the default", 0, true, webhook.DefaultMaxPendingAge + time.Minute, true},
		{"sender, within the default", 0, true, webhook.DefaultMaxPendingAge - time.Minute, false},
	}
	for _, st := range stores {
		for _, tt := range tests {
			t.Run(st.name+"/"+tt.name, func(t *testing.T) {
				ctx := context.Background()
				clock := sessiondtest.NewClock(t0)
				ob := st.open(t)
				obs := &observer{}
				var logs testenv.SyncBuffer
				var rcvCalls func() []string
				opts := webhook.Options{Outbox: ob, Clock: clock, Observer: obs.observe,
					Logger: slog.New(slog.NewJSONHandler(&logs, nil))}
				name := "siem"
				if tt.sender {
					name = "ssf:stream"
					s := &downSender{}
					opts.Senders = []webhook.Sender{s}
					rcvCalls = func() []string {
						s.mu.Lock()
						defer s.mu.Unlock()
						return slices.Clone(s.calls)
					}
				} else {
					// Gone for good: every request answered 503, come back in 10 minutes.
					rcv := newReceiver(t, clock, func(int) int { return http.StatusServiceUnavailable })
					ep := endpoint(name, rcv.srv.URL)
					ep.MaxPendingAge = tt.maxAge
					opts.Endpoints = []webhook.Endpoint{ep}
					rcvCalls = func() []string {
						var ids []string
						for _, r := range rcv.requests() {
							ids = append(ids, r.id)
						}
						return ids
					}
				}
				d := newDispatcher(t, opts)
				d.SetJitter(func(n int64) int64 { return n - 1 }) // retries wait their ceiling: not due at once
				enqueue := func(id string, due time.Time) {
					now := clock.Now()
					if err := ob.EnqueueDeliveries(ctx, sessiond.Delivery{ID: id, Endpoint: name, EventID: "e-" + id,
						Payload: []byte(`{}`), State: sessiond.DeliveryPending, NextAttemptAt: due, CreatedAt: now, UpdatedAt: now}); err != nil {
						t.Fatal(err)
					}
				}
				// The first is sent and fails: the endpoint cools down, and
				// the second, claimed meanwhile, goes back unsent (young),
				// due when it ends.
				enqueue("msg_first", t0)
				deliverDue(t, d)
				enqueue("msg_second", t0)
				if n := deliverDue(t, d); n != 1 {
					t.Fatalf("DeliverDue = %d; want the second claimed", n)
				}
				if p := pending(t, ob, "msg_second"); p.Attempts != 0 {
					t.Fatalf("second delivery = %+v; want it put back unsent", p)
				}
				// Much later, a young delivery due before the others is the
				// probe the endpoint (on probation) sends alone; it fails,
				// and the others, waiting for its slot, meet the cooling
				// down.
				clock.Advance(tt.advance)
				enqueue("msg_probe", t0.Add(-time.Hour))
				deliverDue(t, d)
				deliverDue(t, d) // anything put back due now

				if got := rcvCalls(); slices.Contains(got, "msg_second") {
					t.Errorf("receiver got %q; want the second delivery never sent", got)
				}
				var dead *sessiond.Delivery
				for _, x := range list(t, ob, sessiond.DeliveryDead) {
					if x.ID == "msg_second" {
						dead = &x
					}
				}
				if !tt.wantDead {
					if dead != nil {
						t.Fatalf("second delivery dead after %s: %+v; want it pending (within the bound)", tt.advance, *dead)
					}
					pending(t, ob, "msg_second")
					if slices.Contains(obs.calls(), name+" dead") {
						t.Errorf("Observer calls = %q; want no dead", obs.calls())
					}
					return
				}
				if dead == nil {
					t.Fatalf("second delivery is not dead after %s pending for a cooling endpoint; pending: %+v", tt.advance, list(t, ob, sessiond.DeliveryPending))
				}
				if dead.Attempts != 0 || !strings.Contains(dead.LastError, "max_pending_age") {
					t.Errorf("dead delivery = attempts %d, last error %q; want 0 attempts and why (max_pending_age)", dead.Attempts, dead.LastError)
				}
				if got := obs.calls(); !slices.Contains(got, name+" dead") {
					t.Errorf("Observer calls = %q; want %q", got, name+" dead")
				}
				var line map[string]any
				for l := range strings.Lines(logs.String()) {
					var m map[string]any
					if json.Unmarshal([]byte(l), &m) == nil && m["msg"] == "webhook delivery dead" && m["webhook_id"] == "msg_second" {
						line = m
					}
				}
				if line == nil || line["level"] != "ERROR" || line["endpoint"] != name ||
					!strings.Contains(line["reason"].(string), "max_pending_age") {
					t.Errorf("log = %s; want an ERROR line \"webhook delivery dead\" for msg_second with endpoint and a reason naming max_pending_age", logs.String())
				}
			})
		}
	}
}

// TestDispatcher_MaxPendingAgeHealthy: the bound ends only deliveries a
// cooling endpoint keeps pending. An old delivery to a healthy endpoint
// (one an operator retried after fixing the receiver) is sent.
func TestDispatcher_MaxPendingAgeHealthy(t *testing.T) {
	ctx := context.Background()
	clock := sessiondtest.NewClock(t0)
	ob := newOutbox(t)
	rcv := newReceiver(t, clock, func(int) int { return http.StatusNoContent })
	d := newDispatcher(t, webhook.Options{Outbox: ob, Clock: clock, Endpoints: []webhook.Endpoint{endpoint("siem", rcv.srv.URL)}})
	if err := ob.EnqueueDeliveries(ctx, sessiond.Delivery{ID: "msg_old", Endpoint: "siem", EventID: "e1",
		Payload: []byte(`{}`), State: sessiond.DeliveryPending, NextAttemptAt: t0, CreatedAt: t0, UpdatedAt: t0}); err != nil {
		t.Fatal(err)
	}
	clock.Advance(webhook.DefaultMaxPendingAge + 24*time.Hour)
	deliverDue(t, d)
	if got := list(t, ob, sessiond.DeliveryDelivered); len(got) != 1 || len(rcv.requests()) != 1 {
		t.Errorf("delivered %d, receiver got %d; want the old delivery sent once (its endpoint is healthy)", len(got), len(rcv.requests()))
	}
}

// TestDispatcher_MaxPendingAgeFromRetry: a Retry starts a delivery's age
// again. A delivery recorded longer than max_pending_age ago, dead, that
// an operator retries while its endpoint still cools down is put back for
// a new series of attempts, not ended dead unsent at the first claim.
func TestDispatcher_MaxPendingAgeFromRetry(t *testing.T) {
	ctx := context.Background()
	clock := sessiondtest.NewClock(t0)
	ob := newOutbox(t)
	s := &downSender{}
	d := newDispatcher(t, webhook.Options{Outbox: ob, Clock: clock, Senders: []webhook.Sender{s}})
	d.SetJitter(func(n int64) int64 { return n - 1 })
	old := t0.Add(-webhook.DefaultMaxPendingAge - 24*time.Hour)
	if err := ob.EnqueueDeliveries(ctx,
		sessiond.Delivery{ID: "msg_first", Endpoint: "ssf:stream", EventID: "e1", Payload: []byte(`{}`),
			State: sessiond.DeliveryPending, NextAttemptAt: t0, CreatedAt: t0, UpdatedAt: t0},
		sessiond.Delivery{ID: "msg_old", Endpoint: "ssf:stream", EventID: "e2", Payload: []byte(`{}`),
			State: sessiond.DeliveryPending, NextAttemptAt: t0.Add(time.Hour), CreatedAt: old, UpdatedAt: old}); err != nil {
		t.Fatal(err)
	}
	deliverDue(t, d) // msg_first fails: the endpoint cools down 10 minutes
	if err := ob.FinishDelivery(ctx, "msg_old", sessiond.DeliveryDead, 8, time.Time{}, "push: receiver answered 503", old); err != nil {
		t.Fatal(err)
	}
	clock.Advance(time.Minute)
	if err := ob.RetryDelivery(ctx, "msg_old", clock.Now()); err != nil {
		t.Fatal(err)
	}
	if n := deliverDue(t, d); n != 1 {
		t.Fatalf("DeliverDue = %d; want the retried delivery claimed", n)
	}
	if dead := list(t, ob, sessiond.DeliveryDead); len(dead) != 0 {
		t.Fatalf("retried while its endpoint cools down: dead %+v; want it put back pending", dead)
	}
	s.mu.Lock()
	calls := slices.Clone(s.calls)
	s.mu.Unlock()
	if p := pending(t, ob, "msg_old"); p.Attempts != 0 || slices.Contains(calls, "msg_old") {
		t.Errorf("retried delivery = %+v, sender got %q; want it put back unsent, attempts 0", p, calls)
	}
}
