// Package groupcommit is the queue of writes waiting for a group commit
// that the SQL stores share: a leader takes the waiting writes to run them
// in one transaction, and a caller whose ctx ends withdraws its write
// unless a leader has taken it already, so each write runs at most once.
package groupcommit

import (
	"context"
	"sync"
	"sync/atomic"
)

// Write is the state of a queued write: a store embeds it in its own.
type Write struct{ state atomic.Int32 }

// Write states.
const (
	queued    int32 = iota
	taken           // a leader runs it: the caller waits for the outcome
	withdrawn       // the caller's ctx ended first: it never runs
)

// Queued reports whether w still waits: no leader has taken it and its
// caller has not withdrawn it.
func (w *Write) Queued() bool { return w.state.Load() == queued }

// Withdraw keeps w from running unless a leader has taken it, and reports
// whether it did.
func (w *Write) Withdraw() bool { return w.state.CompareAndSwap(queued, withdrawn) }

func (w *Write) take() bool { return w.state.CompareAndSwap(queued, taken) }

// write is a store's write that embeds Write.
type write interface {
	take() bool
	Queued() bool
	Withdraw() bool
}

// Queue is the writes waiting for a leader. The zero Queue is empty and
// ready; it is safe for concurrent use.
type Queue[W write] struct {
	mu      sync.Mutex
	pending []W
}

// Push queues w.
func (q *Queue[W]) Push(w W) {
	q.mu.Lock()
	q.pending = append(q.pending, w)
	q.mu.Unlock()
}

// Take removes and returns up to limit waiting writes, oldest first,
// skipping withdrawn ones; a write it returns is no longer Queued.
func (q *Queue[W]) Take(limit int) []W {
	q.mu.Lock()
	defer q.mu.Unlock()
	var out []W
	i := 0
	for ; i < len(q.pending) && len(out) < limit; i++ {
		if w := q.pending[i]; w.take() {
			out = append(out, w)
		}
	}
	q.pending = append(q.pending[:0], q.pending[i:]...)
	return out
}

// Len returns how many writes are queued, counting the withdrawn ones Take
// has not passed yet.
func (q *Queue[W]) Len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.pending)
}

// Run queues w and waits for its outcome, the error a leader sends on
// done. Whenever it gets one of slots before that, its caller leads: it
// runs batches of up to limit waiting writes with run (which sends each
// its outcome) until w has been taken, then frees the slot. When ctx ends
// before a leader takes w, Run withdraws w and returns withdrawn true with
// ctx's error; once a leader has w, w's outcome decides.
func (q *Queue[W]) Run(ctx context.Context, w W, done <-chan error, slots chan struct{}, limit int, run func([]W)) (withdrawn bool, err error) {
	q.Push(w)
	select {
	case err = <-done:
		return false, err
	case slots <- struct{}{}:
		for w.Queued() {
			run(q.Take(limit))
		}
		<-slots
		return false, <-done
	case <-ctx.Done():
		if w.Withdraw() {
			return true, ctx.Err()
		}
		// A leader runs it already: its outcome decides.
		return false, <-done
	}
}
