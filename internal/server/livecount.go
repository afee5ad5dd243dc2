package server

import (
	"context"
	"maps"
	"sync"
	"time"

	"github.com/sessiond/sessiond"
)

const (
	// liveCountEvery is the least time a count of live sessions is reused
	// for. A count that took longer than a tenth of it is reused ten times
	// as long as it took, so that counting costs at most a tenth of the
	// store's time however often the figure is asked for.
	liveCountEvery = 30 * time.Second
	// liveCountWait bounds how long an asker (a scrape, the console's
	// overview) waits for a count under way while an older one is known:
	// it is then served the older one, with its age, and the count goes on.
	liveCountWait = time.Second
	// liveCountTimeout bounds a count no one waits for any more, so that a
	// store that hangs shows as a failed count (the gauge absent) rather
	// than an ever older figure.
	liveCountTimeout = 2 * time.Minute
)

// liveCount shares one count of the store's live sessions among everyone
// who asks for it (every scrape of sessiond_sessions_active and every view
// of the console's overview): at most one count runs at a time, in the
// background, and its result is reused for liveCountEvery, so the cost to
// the store does not grow with the number of scrapers or console users.
// Safe for concurrent use.
type liveCount struct {
	counter sessiond.LiveCounter
	clock   sessiond.Clock
	bg      *background
	wait    time.Duration // liveCountWait; a field for the tests

	mu      sync.Mutex
	last    map[sessiond.Strategy]int // nil until a count succeeds
	at      time.Time                 // the time last was counted at
	took    time.Duration             // how long the count of last took
	err     error                     // the latest count's failure; nil once one succeeds
	running chan struct{}             // closed when the count under way ends; nil when none
}

func newLiveCount(counter sessiond.LiveCounter, clock sessiond.Clock, bg *background) *liveCount {
	return &liveCount{counter: counter, clock: clock, bg: bg, wait: liveCountWait}
}

// get returns the live sessions by strategy and how old that count is. A
// count younger than its reuse interval is returned at once; otherwise a
// count is started (or the one under way joined) and waited for at most
// the wait bound when an older count is known, until ctx ends when none
// is. The latest count's failure is returned until a count succeeds: the
// figure is not served from before a failure, as the store is not
// answering.
func (l *liveCount) get(ctx context.Context) (map[sessiond.Strategy]int, time.Duration, error) {
	l.mu.Lock()
	now := l.clock.Now()
	// A count from the future is one the clock (the wall clock) stepped
	// back past: its age is unknown, so it is counted again rather than
	// reused for the step as well, with a negative age.
	if age := now.Sub(l.at); l.last != nil && l.err == nil && age >= 0 && age < max(liveCountEvery, 10*l.took) {
		defer l.mu.Unlock()
		return maps.Clone(l.last), age, nil
	}
	running := l.running
	if running == nil {
		running = l.start(now)
	}
	known := l.last != nil && l.err == nil
	l.mu.Unlock()

	var bound <-chan time.Time
	if known {
		t := time.NewTimer(l.wait)
		defer t.Stop()
		bound = t.C
	}
	select {
	case <-running:
	case <-bound:
	case <-ctx.Done():
		if !known {
			return nil, 0, ctx.Err()
		}
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.err != nil {
		return nil, 0, l.err
	}
	return maps.Clone(l.last), max(l.clock.Now().Sub(l.at), 0), nil
}

// start runs a count as of now in the background; the caller holds l.mu.
// The count has its own deadline, not an asker's: it goes on for the next
// one when the asker stops waiting.
func (l *liveCount) start(now time.Time) chan struct{} {
	done := make(chan struct{})
	l.running = done
	l.bg.Go(func(ctx context.Context) {
		ctx, cancel := context.WithTimeout(ctx, liveCountTimeout)
		defer cancel()
		m, err := l.counter.CountLive(ctx, now)
		l.mu.Lock()
		defer l.mu.Unlock()
		if err != nil {
			l.err = err
		} else {
			l.last, l.at, l.took, l.err = m, now, l.clock.Now().Sub(now), nil
		}
		l.running = nil
		close(done)
	})
	return done
}

// total is the overview's figure: every strategy's live sessions, and the
// time they were counted at.
func (l *liveCount) total(ctx context.Context) (int, time.Time, error) {
	m, age, err := l.get(ctx)
	n := 0
	for _, v := range m {
		n += v
	}
	return n, l.clock.Now().Add(-age), err
}
