package server

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"sync"
	"time"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/metrics"
)

const (
	// countEvery is the least time a shared count is reused for. A count
	// that took longer than a tenth of it is reused ten times as long as
	// it took, so that counting costs at most a tenth of the store's time
	// however often the figure is asked for.
	countEvery = 30 * time.Second
	// countWait bounds how long an asker (a scrape, the console's
	// overview) waits for a count under way while an older one is known:
	// it is then served the older one, with its age, and the count goes on.
	countWait = time.Second
	// countTimeout bounds a count no one waits for any more, so that a
	// store that hangs shows as a failed count rather than a count under
	// way for ever.
	countTimeout = 2 * time.Minute
	// countRetryMax bounds how long a failed count stands before the next
	// try (it stands as long as a count that took as long would): a
	// count that gave up after countTimeout is tried again 5 minutes
	// later, not 20, so the figure comes back within minutes of the store.
	countRetryMax = 5 * time.Minute
)

// sharedCount shares one count read from the store among everyone who
// asks for it (every scrape of its gauge and every view of the console's
// overview): at most one count runs at a time, in the background, and its
// result is reused for countEvery (or ten times as long as it took), so
// the cost to the store does not grow with the number of scrapers or
// console users. A failed count stands too, as long as a count that took
// as long would (at most countRetryMax): a store that fails, or fails
// slowly (a statement timeout, a hang until countTimeout), is not asked
// again at every scrape just when it is in trouble. Meanwhile the last
// good count is served, its age growing; failed is told of each failed
// count once. Safe for concurrent use.
type sharedCount[K comparable] struct {
	read  func(ctx context.Context, now time.Time) (map[K]int, error)
	clock sessiond.Clock
	bg    *background
	wait  time.Duration // countWait; a field for the tests
	// failed, if set, is told of each count that fails (but not of one the
	// shutdown canceled), once, with how long the failure stands before
	// the next count: the server logs it and counts it as a store error.
	// Set before the first ask.
	failed func(err error, retry time.Duration)

	mu      sync.Mutex
	last    map[K]int     // nil until a count succeeds
	at      time.Time     // the time last was counted at
	took    time.Duration // how long the count of last took
	err     error         // the latest count's failure; nil once one succeeds
	errAt   time.Time     // when it failed
	errTook time.Duration // how long it took to fail
	running chan struct{} // closed when the count under way ends; nil when none
}

func newSharedCount[K comparable](read func(context.Context, time.Time) (map[K]int, error), clock sessiond.Clock, bg *background) *sharedCount[K] {
	return &sharedCount[K]{read: read, clock: clock, bg: bg, wait: countWait}
}

// liveCount is the count of live sessions by strategy:
// sessiond_sessions_active and the console overview's live sessions.
type liveCount = sharedCount[sessiond.Strategy]

func newLiveCount(counter sessiond.LiveCounter, clock sessiond.Clock, bg *background) *liveCount {
	return newSharedCount(counter.CountLive, clock, bg)
}

// outboxDepth is the count of pending and dead webhook deliveries:
// sessiond_webhook_outbox_depth. Each state is a scan of its index on the
// SQL stores (about 0.3-0.4 s a million deliveries, docs/PERFORMANCE.md).
type outboxDepth = sharedCount[sessiond.DeliveryState]

func newOutboxDepth(ob sessiond.Outbox, clock sessiond.Clock, bg *background) *outboxDepth {
	count := metrics.CountOutbox(ob)
	return newSharedCount(func(ctx context.Context, _ time.Time) (map[sessiond.DeliveryState]int, error) {
		m, _, err := count(ctx)
		return m, err
	}, clock, bg)
}

// get returns the count and how old it is. A count younger than its reuse
// interval is returned at once, and so is the last good count while the
// latest one's failure stands; otherwise a count is started (or the one
// under way joined) and waited for at most the wait bound when an older
// count is known, until ctx ends when none is. The error is the latest
// count's failure when no count ever succeeded, or ctx's when it ended
// before the first count did.
func (c *sharedCount[K]) get(ctx context.Context) (m map[K]int, age time.Duration, err error) {
	if cerr := c.ask(ctx, func(now time.Time) { m, age, err = c.served(now) }); cerr != nil {
		return nil, 0, cerr
	}
	return m, age, err
}

// countView is a shared count as the console shows it: the counts, when
// they were counted, and when the latest count failed if its failure
// stands (the counts are then the last good ones, or none).
type countView[K comparable] struct {
	counts   map[K]int // nil when no count is known
	at       time.Time // when counts were counted; zero when none
	failedAt time.Time // zero unless the latest count failed
}

// view is get for the console: the same count, with the time it was
// counted at and the time of the failure that stands, if any, so that a
// page can say that the figure it shows is older than the last try. The
// error is get's.
func (c *sharedCount[K]) view(ctx context.Context) (v countView[K], err error) {
	cerr := c.ask(ctx, func(now time.Time) {
		var age time.Duration
		v.counts, age, err = c.served(now)
		if v.counts != nil {
			v.at = now.Add(-age)
		}
		if c.err != nil {
			v.failedAt = c.errAt
		}
	})
	if cerr != nil {
		return countView[K]{}, cerr
	}
	return v, err
}

// ask starts or joins a count as get says, then calls serve with c.mu
// held and the time; it returns ctx's error instead when ctx ended before
// the first count did.
func (c *sharedCount[K]) ask(ctx context.Context, serve func(now time.Time)) error {
	c.mu.Lock()
	if now := c.clock.Now(); c.reusable(now) {
		defer c.mu.Unlock()
		serve(now)
		return nil
	} else if c.running == nil {
		c.start(now)
	}
	running := c.running
	known := c.last != nil
	c.mu.Unlock()

	var bound <-chan time.Time
	if known {
		t := time.NewTimer(c.wait)
		defer t.Stop()
		bound = t.C
	}
	select {
	case <-running:
	case <-bound:
	case <-ctx.Done():
		if !known {
			return ctx.Err()
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	serve(c.clock.Now())
	return nil
}

// reusable reports whether the latest count, or its failure, stands at
// now; the caller holds c.mu. A count or failure from the future is one
// the clock (the wall clock) stepped back past: its age is unknown, so it
// is counted again rather than reused for the step as well.
func (c *sharedCount[K]) reusable(now time.Time) bool {
	if c.err != nil {
		age := now.Sub(c.errAt)
		return age >= 0 && age < retryAfter(c.errTook)
	}
	age := now.Sub(c.at)
	return c.last != nil && age >= 0 && age < max(countEvery, 10*c.took)
}

// retryAfter is how long a count that failed after took stands.
func retryAfter(took time.Duration) time.Duration {
	return min(max(countEvery, 10*took), countRetryMax)
}

// served is the last good count and its age, or, when there is none, the
// latest failure; the caller holds c.mu.
func (c *sharedCount[K]) served(now time.Time) (map[K]int, time.Duration, error) {
	if c.last == nil {
		if c.err != nil {
			return nil, 0, c.err
		}
		return nil, 0, errNotCounted
	}
	return maps.Clone(c.last), max(now.Sub(c.at), 0), nil
}

// reported marks the errors of get as reported already for the metrics
// package: a failed count is reported once, when it fails (failed).
func reported[K comparable](get func(context.Context) (map[K]int, time.Duration, error)) func(context.Context) (map[K]int, time.Duration, error) {
	return func(ctx context.Context) (map[K]int, time.Duration, error) {
		m, age, err := get(ctx)
		if err != nil {
			err = fmt.Errorf("%w: %w", metrics.ErrReported, err)
		}
		return m, age, err
	}
}

// errNotCounted would be served were no count ended yet; get never gets
// there (an asker waits for the first count or returns its ctx's error),
// it only keeps served total.
var errNotCounted = errors.New("not counted yet")

// start runs a count as of now in the background; the caller holds c.mu.
// The count has its own deadline, not an asker's: it goes on for the next
// one when the asker stops waiting.
func (c *sharedCount[K]) start(now time.Time) {
	done := make(chan struct{})
	c.running = done
	c.bg.Go(func(ctx context.Context) {
		ctx, cancel := context.WithTimeout(ctx, countTimeout)
		defer cancel()
		m, err := c.read(ctx, now)
		end := c.clock.Now()
		// Reported before an asker waiting for the count is served it. A
		// count the shutdown canceled is no failure of the store.
		if err != nil && c.failed != nil && !errors.Is(err, context.Canceled) {
			c.failed(err, retryAfter(end.Sub(now)))
		}
		c.mu.Lock()
		if err != nil {
			c.err, c.errAt, c.errTook = err, end, end.Sub(now)
			// The clock stepped back past the last count (the reason for
			// this one): its age is unknown, and served it would read 0 s
			// for as long as the step while it ages. Left out instead.
			if now.Before(c.at) || end.Before(c.at) {
				c.last = nil
			}
		} else {
			if m == nil {
				m = map[K]int{} // nil is no count yet
			}
			c.last, c.at, c.took, c.err = m, now, end.Sub(now), nil
		}
		c.running = nil
		close(done)
		c.mu.Unlock()
	})
}
