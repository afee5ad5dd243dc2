package sessiondtest

import (
	"context"
	"sync"
	"time"

	"github.com/sessiond/sessiond"
)

// Events is a sessiond.EventSink that keeps every event it is given, for
// tests to count. Safe for concurrent use.
type Events struct {
	mu     sync.Mutex
	events []sessiond.Event
}

// Record keeps e.
func (r *Events) Record(_ context.Context, e sessiond.Event) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, e)
	return nil
}

// Count returns how many events of typ were recorded.
func (r *Events) Count(typ sessiond.EventType) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, e := range r.events {
		if e.Type == typ {
			n++
		}
	}
	return n
}

// OfType returns the recorded events of typ, in order.
func (r *Events) OfType(typ sessiond.EventType) []sessiond.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []sessiond.Event
	for _, e := range r.events {
		if e.Type == typ {
			out = append(out, e)
		}
	}
	return out
}

// All returns a copy of the recorded events, in order.
func (r *Events) All() []sessiond.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]sessiond.Event(nil), r.events...)
}

// Await waits until at least n events of typ are recorded and returns them,
// for events a Manager emits off the request's path (such as
// sessiond.EventConcurrentLogin); ctx's error if it ends first.
func (r *Events) Await(ctx context.Context, typ sessiond.EventType, n int) ([]sessiond.Event, error) {
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for {
		if got := r.OfType(typ); len(got) >= n {
			return got, nil
		}
		select {
		case <-ctx.Done():
			return r.OfType(typ), ctx.Err()
		case <-tick.C:
		}
	}
}
