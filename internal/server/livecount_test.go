package server

import (
	"context"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/sessiondtest"
	"github.com/sessiond/sessiond/sqlitestore"
)

// countingLive is a real store's LiveCounter that counts its calls and,
// while hold is set, keeps each call waiting until hold is closed.
type countingLive struct {
	lc    sessiond.LiveCounter
	calls atomic.Int32
	mu    sync.Mutex
	hold  chan struct{}
	asked time.Time
}

func (c *countingLive) CountLive(ctx context.Context, now time.Time) (map[sessiond.Strategy]int, error) {
	c.calls.Add(1)
	c.mu.Lock()
	hold := c.hold
	c.asked = now
	c.mu.Unlock()
	if hold != nil {
		// ctx too: a test that fails while a count is held must not hang
		// in its cleanup, where the background group waits for the count.
		select {
		case <-hold:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	return c.lc.CountLive(ctx, now)
}

func (c *countingLive) setHold(h chan struct{}) {
	c.mu.Lock()
	c.hold = h
	c.mu.Unlock()
}

// liveFixture is a SQLite store holding n hybrid sessions created at t0,
// behind a countingLive.
func liveFixture(t *testing.T, t0 time.Time, n int) (*countingLive, sessiond.Store) {
	t.Helper()
	ctx := context.Background()
	st, err := sqlitestore.New(ctx, filepath.Join(t.TempDir(), "live.db"), sqlitestore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	for range n {
		addLive(t, st, t0)
	}
	return &countingLive{lc: st}, st
}

func addLive(t *testing.T, st sessiond.Store, at time.Time) {
	t.Helper()
	s := sessiondtest.NewSession("u", at)
	s.Strategy = sessiond.StrategyHybrid
	s.IdleExpiresAt, s.ExpiresAt = at.Add(24*time.Hour), at.Add(24*time.Hour)
	if err := st.Create(context.Background(), s); err != nil {
		t.Fatal(err)
	}
}

// --- adapter to the code under test ---

type liveAsker interface {
	ask(ctx context.Context) (map[sessiond.Strategy]int, time.Duration, error)
}

func newTestLive(t *testing.T, c sessiond.LiveCounter, clock sessiond.Clock, wait time.Duration) liveAsker {
	bg := newBackground()
	t.Cleanup(bg.stop)
	l := newLiveCount(c, clock, bg)
	l.wait = wait
	return asker{l}
}

type asker struct{ l *liveCount }

func (a asker) ask(ctx context.Context) (map[sessiond.Strategy]int, time.Duration, error) {
	return a.l.get(ctx)
}

// --- tests ---

var liveT0 = time.Date(2031, 1, 2, 3, 4, 5, 0, time.UTC)

// hung fails the test when done is not closed within 10 s: only a caller
// stuck behind a held count gets there.
func hung(t *testing.T, what string, done <-chan struct{}) {
	t.Helper()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatalf("%s still waits for a count held in the store", what)
	}
}

// TestLiveCount_ReusedForTheInterval: a count is reused for 30 s of the
// injected clock, then counted again (about the clock's time), and the
// age reported is the clock's time since the count.
func TestLiveCount_ReusedForTheInterval(t *testing.T) {
	clock := sessiondtest.NewClock(liveT0)
	c, st := liveFixture(t, liveT0, 2)
	l := newTestLive(t, c, clock, time.Minute)
	ctx := context.Background()
	for _, step := range []struct {
		advance   time.Duration
		add       int
		wantCalls int32
		wantLive  int
		wantAge   time.Duration
	}{
		{0, 0, 1, 2, 0},
		{20 * time.Second, 1, 1, 2, 20 * time.Second},
		{9 * time.Second, 0, 1, 2, 29 * time.Second},
		{time.Second, 0, 2, 3, 0},
		{5 * time.Second, 0, 2, 3, 5 * time.Second},
	} {
		clock.Advance(step.advance)
		for range step.add {
			addLive(t, st, clock.Now())
		}
		got, age, err := l.ask(ctx)
		if err != nil {
			t.Fatal(err)
		}
		at := clock.Now().Sub(liveT0)
		if c.calls.Load() != step.wantCalls || got[sessiond.StrategyHybrid] != step.wantLive || age != step.wantAge {
			t.Fatalf("at +%v: %d store calls, gauge %v, age %v; want %d calls, hybrid %d, age %v",
				at, c.calls.Load(), got, age, step.wantCalls, step.wantLive, step.wantAge)
		}
		if asked := c.asked; asked.After(clock.Now()) || asked.Before(liveT0) {
			t.Fatalf("CountLive asked about %v; want the injected clock's time", asked)
		}
	}
}

// TestLiveCount_SlowCountServesTheLast: while a count is held in the store,
// every asker gets the last count (with its age) after the wait bound
// instead of waiting for it, and they all share that one count; once it
// ends, its value is served.
func TestLiveCount_SlowCountServesTheLast(t *testing.T) {
	clock := sessiondtest.NewClock(liveT0)
	c, st := liveFixture(t, liveT0, 1)
	l := newTestLive(t, c, clock, time.Millisecond)
	ctx := context.Background()
	if got, _, err := l.ask(ctx); err != nil || got[sessiond.StrategyHybrid] != 1 {
		t.Fatalf("first count = %v, %v; want hybrid 1", got, err)
	}
	clock.Advance(time.Minute)
	addLive(t, st, clock.Now())
	hold := make(chan struct{})
	c.setHold(hold)

	const askers = 20
	var wg sync.WaitGroup
	ages := make(chan time.Duration, askers)
	for range askers {
		wg.Go(func() {
			got, age, err := l.ask(ctx)
			if err != nil || got[sessiond.StrategyHybrid] != 1 {
				t.Errorf("ask during a held count = %v, %v; want the last count, hybrid 1", got, err)
			}
			ages <- age
		})
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	hung(t, "a scrape", done)
	close(ages)
	for age := range ages {
		if age != time.Minute {
			t.Errorf("age of the last count = %v; want 1m0s", age)
		}
	}
	if n := c.calls.Load(); n != 2 {
		t.Errorf("%d store calls for %d askers during a held count; want 2 (the first count and one shared)", n, askers)
	}

	close(hold)
	c.setHold(nil)
	// The held count ends in the background: ask until its value shows
	// (each ask in the meantime joins it rather than starting another).
	for {
		got, _, err := l.ask(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if got[sessiond.StrategyHybrid] == 2 {
			break
		}
	}
	if n := c.calls.Load(); n != 2 {
		t.Errorf("%d store calls once the held count ended; want 2", n)
	}
}

// slowLive takes d of the injected clock to count.
type slowLive struct {
	sessiond.LiveCounter
	clock *sessiondtest.Clock
	d     time.Duration
}

func (s slowLive) CountLive(ctx context.Context, now time.Time) (map[sessiond.Strategy]int, error) {
	s.clock.Advance(s.d)
	return s.LiveCounter.CountLive(ctx, now)
}

// TestLiveCount_SlowCountReusedLonger: a count that took 10 s is reused
// for 100 s, ten times as long as it took, not 30 s; its age counts from
// the time it was counted at.
func TestLiveCount_SlowCountReusedLonger(t *testing.T) {
	clock := sessiondtest.NewClock(liveT0)
	c, _ := liveFixture(t, liveT0, 1)
	l := newTestLive(t, slowLive{LiveCounter: c, clock: clock, d: 10 * time.Second}, clock, time.Minute)
	ctx := context.Background()
	for _, step := range []struct {
		advance   time.Duration
		wantCalls int32
		wantAge   time.Duration
	}{
		{0, 1, 10 * time.Second},
		{89 * time.Second, 1, 99 * time.Second},
		{time.Second, 2, 10 * time.Second},
	} {
		clock.Advance(step.advance)
		_, age, err := l.ask(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if c.calls.Load() != step.wantCalls || age != step.wantAge {
			t.Fatalf("at +%v: %d store calls, age %v; want %d, age %v", clock.Now().Sub(liveT0), c.calls.Load(), age, step.wantCalls, step.wantAge)
		}
	}
}

// failingLive fails while fail is set.
type failingLive struct {
	sessiond.LiveCounter
	fail atomic.Bool
}

func (f *failingLive) CountLive(ctx context.Context, now time.Time) (map[sessiond.Strategy]int, error) {
	if f.fail.Load() {
		return nil, sessiond.ErrStoreUnavailable
	}
	return f.LiveCounter.CountLive(ctx, now)
}

// TestLiveCount_StoreDown: a count that fails is not served while an
// earlier one is known: the last count is, with its age growing (the
// gauge stays and SessiondLiveCountStale can fire), and the failure
// stands 30 s before the next try; the first count that succeeds is
// served.
func TestLiveCount_StoreDown(t *testing.T) {
	clock := sessiondtest.NewClock(liveT0)
	c, _ := liveFixture(t, liveT0, 1)
	f := &failingLive{LiveCounter: c}
	l := newTestLive(t, f, clock, time.Minute)
	ctx := context.Background()
	if _, _, err := l.ask(ctx); err != nil {
		t.Fatal(err)
	}
	f.fail.Store(true)
	clock.Advance(time.Minute)
	for i := range 2 {
		if got, age, err := l.ask(ctx); err != nil || got[sessiond.StrategyHybrid] != 1 || age != time.Minute {
			t.Fatalf("ask %d with the store down = %v, %v, %v; want the last count, hybrid 1, 1m0s old", i, got, age, err)
		}
	}
	if n := c.calls.Load(); n != 1 {
		t.Fatalf("%d calls reached the store; want 1 (the failing ones fail before it)", n)
	}
	f.fail.Store(false)
	clock.Advance(countEvery)
	if got, age, err := l.ask(ctx); err != nil || got[sessiond.StrategyHybrid] != 1 || age != 0 {
		t.Fatalf("ask with the store back = %v, %v, %v; want hybrid 1 counted now", got, age, err)
	}
}

// TestLiveCount_ClockStepsBack: the reuse interval is measured on the
// server's clock, which is the wall clock (SystemClock's UTC time carries
// no monotonic reading); after it steps back a count can no longer be
// aged, so it is counted again rather than reused for the step plus 30 s
// with a negative age on the gauge.
func TestLiveCount_ClockStepsBack(t *testing.T) {
	clock := sessiondtest.NewClock(liveT0)
	c, _ := liveFixture(t, liveT0, 1)
	l := newTestLive(t, c, clock, time.Minute)
	ctx := context.Background()
	if _, _, err := l.ask(ctx); err != nil {
		t.Fatal(err)
	}
	clock.Advance(-time.Hour)
	got, age, err := l.ask(ctx)
	if err != nil || got[sessiond.StrategyHybrid] != 1 {
		t.Fatalf("ask after the clock stepped back = %v, %v; want hybrid 1", got, err)
	}
	if age < 0 || c.calls.Load() != 2 {
		t.Fatalf("after the clock stepped back 1h: age %v, %d store calls; want a new count (age 0, 2 calls)", age, c.calls.Load())
	}
}

// TestLiveCount_AfterBackgroundStopped: an ask that comes after the
// server's background group stopped (a scrape the shutdown's grace did not
// wait for) returns, with or without an earlier count, instead of waiting
// for a count that cannot run.
func TestLiveCount_AfterBackgroundStopped(t *testing.T) {
	for _, known := range []bool{false, true} {
		clock := sessiondtest.NewClock(liveT0)
		c, _ := liveFixture(t, liveT0, 1)
		bg := newBackground()
		l := newLiveCount(c, clock, bg)
		l.wait = time.Minute
		if known {
			if _, _, err := l.get(context.Background()); err != nil {
				t.Fatal(err)
			}
			clock.Advance(time.Minute)
		}
		bg.stop()
		done := make(chan struct{})
		go func() {
			defer close(done)
			if _, _, err := l.get(context.Background()); err == nil && !known {
				t.Errorf("ask with no count after the background stopped: no error")
			}
		}()
		hung(t, "an ask after shutdown", done)
	}
}

// TestLiveCount_ManyAskers: concurrent askers across reuse intervals (run
// with -race) all return and share one count per interval.
func TestLiveCount_ManyAskers(t *testing.T) {
	clock := sessiondtest.NewClock(liveT0)
	c, _ := liveFixture(t, liveT0, 1)
	l := newTestLive(t, c, clock, time.Millisecond)
	ctx := context.Background()
	for round := range 5 {
		var wg sync.WaitGroup
		for range 50 {
			wg.Go(func() {
				if _, age, err := l.ask(ctx); err != nil || age < 0 {
					t.Errorf("round %d: age %v, %v", round, age, err)
				}
			})
		}
		done := make(chan struct{})
		go func() { wg.Wait(); close(done) }()
		hung(t, "an asker", done)
		clock.Advance(countEvery)
	}
	if n := c.calls.Load(); n < 1 || n > 5 {
		t.Errorf("%d store calls in 5 intervals; want 1 to 5", n)
	}
}
