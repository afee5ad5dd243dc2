// Package feedwake lets a store's revocation feed, while it waits out its
// reconnect backoff, be woken as soon as the store is seen answering
// again, so that revocations missed during an outage are caught up one
// reconnect after the store returns rather than one backoff step later.
package feedwake

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// Waker connects the calls that see the store answer (Answered) to the
// feeds waiting to reconnect (Watch). The zero value is ready to use; it
// is safe for concurrent use.
type Waker struct {
	// waiting counts the feeds between Watch and its stop, so that
	// Answered costs one atomic load while every feed is connected.
	waiting atomic.Int32

	mu    sync.Mutex
	chans map[chan struct{}]struct{}
}

// Answered notes that the store just answered a call. It never blocks.
func (w *Waker) Answered() {
	if w.waiting.Load() == 0 {
		return
	}
	w.mu.Lock()
	for c := range w.chans {
		select {
		case c <- struct{}{}:
		default: // a wake is already pending
		}
	}
	w.mu.Unlock()
}

// Watch registers a feed that lost its connection. The channel receives
// after each Answered from then on (wakes not yet received merge into
// one), so an answer seen while a reconnect attempt was failing still
// cuts the next wait short. Call stop once connected again.
func (w *Waker) Watch() (woken <-chan struct{}, stop func()) {
	c := make(chan struct{}, 1)
	w.mu.Lock()
	if w.chans == nil {
		w.chans = make(map[chan struct{}]struct{})
	}
	w.chans[c] = struct{}{}
	w.mu.Unlock()
	w.waiting.Add(1)
	var once sync.Once
	return c, func() {
		once.Do(func() {
			w.waiting.Add(-1)
			w.mu.Lock()
			delete(w.chans, c)
			w.mu.Unlock()
		})
	}
}

// Wait waits d for a feed's next reconnect attempt, less if woken receives
// first, and reports whether ctx is still live and whether a wake cut the
// wait short. A wake never brings the attempt before notBefore: a store
// that answers calls but refuses the feed's connection would otherwise
// have the feed retry at the rate of the store's traffic. Nor does it put
// the attempt after the end of d. A feed whose woken attempt failed should
// wait its next backoff step whole (a nil woken), for the same reason.
func Wait(ctx context.Context, woken <-chan struct{}, d time.Duration, notBefore time.Time) (live, wasWoken bool) {
	end := time.Now().Add(d)
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false, false
	case <-t.C:
		return true, false
	case <-woken:
	}
	// The time left until notBefore, or until d ends if that is sooner
	// (a jittered d may be shorter than the floor).
	if end.Before(notBefore) {
		notBefore = end
	}
	if rest := time.Until(notBefore); rest > 0 {
		t.Reset(rest)
		select {
		case <-ctx.Done():
			return false, true
		case <-t.C:
		}
	}
	return true, true
}
