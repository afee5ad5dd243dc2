package sessiond_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/sessiond/sessiond"
)

// atomicSink is an AtomicSink as the server's fanout is: it hands the
// event to the store, and counts what the Manager asked of it.
type atomicSink struct {
	mu                            sync.Mutex
	prepared, committed, recorded []sessiond.Event
	refuse                        bool  // Prepare answers ok false
	fail                          error // Prepare fails
}

func (s *atomicSink) Record(_ context.Context, e sessiond.Event) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.recorded = append(s.recorded, e)
	return nil
}

func (s *atomicSink) Prepare(_ context.Context, e sessiond.Event) ([]sessiond.Event, []sessiond.Delivery, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fail != nil || s.refuse {
		return nil, nil, false, s.fail
	}
	s.prepared = append(s.prepared, e)
	d := sessiond.Delivery{ID: "msg_" + e.ID, Endpoint: "ops", EventID: e.ID, Payload: []byte("{}"),
		NextAttemptAt: e.Time, CreatedAt: e.Time, UpdatedAt: e.Time}
	return []sessiond.Event{e}, []sessiond.Delivery{d}, true, nil
}

func (s *atomicSink) Committed(_ context.Context, e sessiond.Event) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.committed = append(s.committed, e)
}

// TestManager_RefreshEventWithSwap: on a ChangeEventWriter store, a hybrid
// refresh's event and delivery are written by the swap, never by Record;
// a failed refresh writes neither; a sink that declines, or fails, falls
// back to Record after the swap.
func TestManager_RefreshEventWithSwap(t *testing.T) {
	for _, tc := range []struct {
		name    string
		sink    *atomicSink
		carried bool // the store wrote the event with the swap
	}{
		{"Carried", &atomicSink{}, true},
		{"SinkDeclines", &atomicSink{refuse: true}, false},
		{"PrepareFails", &atomicSink{fail: errors.New("encode")}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, sessiond.StrategyHybrid, func(o *sessiond.Options) { o.Events = tc.sink })
			ctx := context.Background()
			iss := h.create(t, "alice", sessiond.CreateOptions{})
			h.clock.Advance(time.Minute)
			next, err := h.m.Refresh(ctx, iss.RefreshToken, sessiond.Client{IP: "192.0.2.1"})
			if err != nil {
				t.Fatal(err)
			}
			events, _, err := h.store.QueryEvents(ctx, sessiond.EventQuery{Type: sessiond.EventSessionRefreshed})
			if err != nil {
				t.Fatal(err)
			}
			ds, err := h.store.ListDeliveries(ctx, sessiond.DeliveryPending, 10)
			if err != nil {
				t.Fatal(err)
			}
			var refreshed []sessiond.Event
			for _, e := range tc.sink.recorded {
				if e.Type == sessiond.EventSessionRefreshed {
					refreshed = append(refreshed, e)
				}
			}
			if tc.carried {
				if len(events) != 1 || len(ds) != 1 || events[0].SessionID != next.Session.ID {
					t.Fatalf("store holds %d refreshed events, %d deliveries; want 1 and 1 of the session", len(events), len(ds))
				}
				if len(refreshed) != 0 || len(tc.sink.committed) != 1 || tc.sink.committed[0].ID != events[0].ID {
					t.Fatalf("Record got %d refreshed events, Committed %d; want 0 and the stored one", len(refreshed), len(tc.sink.committed))
				}
			} else {
				if len(events) != 0 || len(ds) != 0 || len(refreshed) != 1 || len(tc.sink.committed) != 0 {
					t.Fatalf("store %d events %d deliveries, Record %d, Committed %d; want 0, 0, 1, 0",
						len(events), len(ds), len(refreshed), len(tc.sink.committed))
				}
			}

			// The first token again, outside the reuse interval: a
			// failed swap, whose event nothing writes.
			h.clock.Advance(time.Hour)
			if _, err := h.m.Refresh(ctx, iss.RefreshToken, sessiond.Client{}); !errors.Is(err, sessiond.ErrRefreshReused) {
				t.Fatalf("reused refresh = %v; want ErrRefreshReused", err)
			}
			events, _, _ = h.store.QueryEvents(ctx, sessiond.EventQuery{Type: sessiond.EventSessionRefreshed})
			if want := map[bool]int{true: 1, false: 0}[tc.carried]; len(events) != want {
				t.Fatalf("after a refused refresh, %d refreshed events stored; want %d", len(events), want)
			}
		})
	}
}

var _ sessiond.AtomicSink = (*atomicSink)(nil)
