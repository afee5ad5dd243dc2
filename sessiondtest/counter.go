package sessiondtest

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sessiond/sessiond"
)

// TestWindowCounter checks sessiond.WindowCounter, failing at once if
// newStore's stores do not implement it. TestStore runs it when they do.
//
// Beyond the WindowCounter doc comment it pins down: a window ends exactly
// at now+window (a call at that instant starts the next one); keys are
// independent, and another store's counts are not this one's; concurrent
// calls for one key return each count from 1 to n exactly once; a bad key
// or window is ErrInvalidArgument and counts nothing; a window that ended
// counts from 1 again whether the store forgot it first or not; concurrent
// calls at and just past a window's end start one new window between them
// (never two windows at 1, never a count lost).
//
// A store whose test build has the method CounterWindows (see
// counterWindows; a backend adds it in its export_test.go, outside its
// API) also has its ended windows' removal checked: after as many calls as
// there were windows, made past their end, none of them is kept, so the
// store holds about as many windows as are running.
func TestWindowCounter(t *testing.T, newStore func(t *testing.T) sessiond.Store) {
	runSuite(t, newStore, []subtest[sessiond.WindowCounter]{
		{"Window", counterWindow},
		{"Keys", counterKeys},
		{"Concurrent", counterConcurrent},
		{"Boundary", counterBoundary},
		{"NewWindowAfterEnd", counterNewWindow},
		{"EndedWindowsRemoved", counterRemoved},
		{"AheadSparesRunning", counterAheadSparesRunning},
		{"BadInput", counterBadInput},
	})
}

// counterWindows is the test hook a store's own test build may add: how
// many windows the store will still hold at at if nothing more is called.
// That is every window a store keeps until something removes it (rows,
// map entries, ended ones not yet swept included), and, for a store whose
// keys expire by themselves (Redis), those whose expiry is after at.
type counterWindows interface {
	CounterWindows(ctx context.Context, at time.Time) (int, error)
}

// incr calls c.Incr and checks what it returns.
func incr(f *fixture, c sessiond.WindowCounter, key string, now time.Time, window time.Duration, want int64, wantReset time.Time) {
	f.t.Helper()
	n, reset, err := c.Incr(f.ctx, key, now, window)
	if err != nil || n != want || !reset.Equal(wantReset) {
		f.t.Fatalf("Incr(%q, %v, %v) = %d, %v, %v; want %d, %v", key, now, window, n, reset, err, want, wantReset)
	}
}

// counterNow is the suite's clock: real time (Redis expires keys by its own
// clock), in whole milliseconds, which every store keeps.
func counterNow() time.Time { return time.Now().UTC().Truncate(time.Millisecond) }

func counterWindow(t *testing.T, f *fixture, c sessiond.WindowCounter) {
	now, w := counterNow(), time.Minute
	end := now.Add(w)
	incr(f, c, "refresh_failures:a", now, w, 1, end)
	incr(f, c, "refresh_failures:a", now.Add(time.Second), w, 2, end)
	// A longer window asked for later does not move the running one.
	incr(f, c, "refresh_failures:a", now.Add(30*time.Second), time.Hour, 3, end)
	incr(f, c, "refresh_failures:a", end.Add(-time.Microsecond), w, 4, end)
	// At the end a new window starts, counting from 1.
	incr(f, c, "refresh_failures:a", end, w, 1, end.Add(w))
	incr(f, c, "refresh_failures:a", end.Add(time.Second), w, 2, end.Add(w))
	// Long after, too.
	later := end.Add(time.Hour)
	incr(f, c, "refresh_failures:a", later, 10*time.Second, 1, later.Add(10*time.Second))
}

func counterKeys(t *testing.T, f *fixture, c sessiond.WindowCounter) {
	now, w := counterNow(), time.Minute
	incr(f, c, "k1", now, w, 1, now.Add(w))
	incr(f, c, "k1", now, w, 2, now.Add(w))
	incr(f, c, "k2", now, w, 1, now.Add(w))
	incr(f, c, "K1", now, w, 1, now.Add(w)) // keys are case-sensitive
	long := strings.Repeat("x", sessiond.MaxCounterKey)
	incr(f, c, long, now, w, 1, now.Add(w))
	other, ok := f.newStore(t).(sessiond.WindowCounter)
	if !ok {
		t.Fatal("another store from newStore is no WindowCounter")
	}
	incr(f, other, "k1", now, w, 1, now.Add(w)) // another store's data
	incr(f, c, "k1", now, w, 3, now.Add(w))
}

func counterConcurrent(t *testing.T, f *fixture, c sessiond.WindowCounter) {
	const n = 40
	now, w := counterNow(), time.Minute
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		seen = map[int64]bool{}
	)
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			got, reset, err := c.Incr(f.ctx, "race", now, w)
			mu.Lock()
			defer mu.Unlock()
			if err != nil || !reset.Equal(now.Add(w)) {
				t.Errorf("Incr(race) = %d, %v, %v; want a count ending at %v", got, reset, err, now.Add(w))
				return
			}
			if seen[got] {
				t.Errorf("Incr(race) returned %d twice", got)
			}
			seen[got] = true
		}()
	}
	wg.Wait()
	for i := int64(1); i <= n; i++ {
		if !seen[i] {
			t.Errorf("no concurrent Incr returned %d; want each of 1..%d once", i, n)
		}
	}
}

// counterBoundary races calls for one key around its window's end, in
// rounds on fresh keys (so the SQL stores' sweeps, one call in 64, fall
// among them: eight rounds of 26 calls hold three, each in a race at the
// end): calls just before the end count on in the old window; calls at
// and past the end start exactly one new window between them, and each
// gets its own count.
func counterBoundary(t *testing.T, f *fixture, c sessiond.WindowCounter) {
	const (
		rounds = 8
		n      = 8
	)
	start, w := counterNow(), time.Minute
	end := start.Add(w)
	type result struct {
		n     int64
		reset time.Time
	}
	race := func(key string, times []time.Time) []result {
		out := make([]result, len(times))
		var wg sync.WaitGroup
		for i, now := range times {
			wg.Add(1)
			go func() {
				defer wg.Done()
				n, reset, err := c.Incr(f.ctx, key, now, w)
				if err != nil {
					t.Errorf("Incr(%q, %v) = %v; want nil", key, now, err)
				}
				out[i] = result{n, reset}
			}()
		}
		wg.Wait()
		return out
	}
	for r := range rounds {
		key := fmt.Sprintf("boundary:%d", r)
		incr(f, c, key, start, w, 1, end)
		before := make([]time.Time, n)
		for i := range before {
			before[i] = end.Add(-time.Microsecond)
		}
		seen := map[int64]bool{}
		for _, got := range race(key, before) {
			if !got.reset.Equal(end) || got.n < 2 || got.n > n+1 || seen[got.n] {
				t.Fatalf("round %d: Incr(%q) just before the end = %d, %v; want each of 2..%d once, ending at %v", r, key, got.n, got.reset, n+1, end)
			}
			seen[got.n] = true
		}
		past := make([]time.Time, 2*n)
		for i := range past {
			past[i] = end.Add(time.Duration(i%2) * time.Microsecond) // at the end and just past it
		}
		got := race(key, past)
		newEnd := got[0].reset
		if !newEnd.Equal(end.Add(w)) && !newEnd.Equal(end.Add(w+time.Microsecond)) {
			t.Fatalf("round %d: Incr(%q) at the end returned a window ending at %v; want %v (or a µs later)", r, key, newEnd, end.Add(w))
		}
		seen = map[int64]bool{}
		for _, g := range got {
			if !g.reset.Equal(newEnd) {
				t.Fatalf("round %d: concurrent Incr(%q) at the end started windows ending at %v and %v; want one new window", r, key, newEnd, g.reset)
			}
			if g.n < 1 || g.n > 2*n || seen[g.n] {
				t.Fatalf("round %d: concurrent Incr(%q) at the end returned %d (twice, or out of 1..%d); want each of 1..%d once", r, key, g.n, 2*n, 2*n)
			}
			seen[g.n] = true
		}
		incr(f, c, key, end.Add(time.Second), w, 2*n+1, newEnd) // nothing lost afterwards
	}
}

// counterNewWindow lets many windows end, then counts each key again past
// the end, amid the calls that let a store forget ended windows (64 keys:
// a store that sweeps one call in 64 does so once among them, so some
// keys are forgotten first and some not): every key starts again at 1,
// whether its window was forgotten first or not, and counts on from
// there. Short windows end and start again within seconds too, before a
// store that sweeps by the clock (memory: once a minute) has forgotten
// them.
func counterNewWindow(t *testing.T, f *fixture, c sessiond.WindowCounter) {
	const keys = 64
	now, w := counterNow(), time.Minute
	key := func(i int) string { return fmt.Sprintf("again:%d", i) }
	for i := range keys {
		incr(f, c, key(i), now, w, 1, now.Add(w))
	}
	short, sw := now.Add(10*time.Second), 10*time.Second
	for i := range 10 {
		k := fmt.Sprintf("short:%d", i)
		incr(f, c, k, short, sw, 1, short.Add(sw))
		incr(f, c, k, short.Add(time.Second), sw, 2, short.Add(sw))
		next := short.Add(2 * sw)
		incr(f, c, k, next, sw, 1, next.Add(sw))
		incr(f, c, k, next.Add(time.Second), sw, 2, next.Add(sw))
	}
	later := now.Add(2 * w)
	for i := range keys {
		incr(f, c, key(i), later, w, 1, later.Add(w))
	}
	for i := range keys {
		incr(f, c, key(i), later.Add(time.Second), w, 2, later.Add(w))
	}
}

// counterRemoved counts generations of distinct keys, each generation's
// windows ending before the next starts, and asks the store after each
// how many windows it holds: only the running generation's.
func counterRemoved(t *testing.T, f *fixture, c sessiond.WindowCounter) {
	cw, ok := c.(counterWindows)
	if !ok {
		t.Skipf("%T has no CounterWindows method (a test hook): removal of ended windows not checked", c)
	}
	const (
		generations = 3
		keys        = 64 // a store that sweeps one call in 64 does so once per generation
	)
	now, w := counterNow(), time.Minute
	held := func(at time.Time) int {
		t.Helper()
		n, err := cw.CounterWindows(f.ctx, at)
		if err != nil {
			t.Fatalf("CounterWindows(%v) = %v; want nil", at, err)
		}
		return n
	}
	for g := range generations {
		at := now.Add(time.Duration(g) * 3 * w) // the previous generation's windows ended two minutes ago, past the SQL and memory stores' sweep margin of a minute
		for i := range keys {
			incr(f, c, fmt.Sprintf("gen%d:%d", g, i), at, w, 1, at.Add(w))
		}
		if got := held(at); got != keys {
			t.Fatalf("after %d generations of %d keys, each past the previous one's windows, the store holds %d windows; want the running %d",
				g+1, keys, got, keys)
		}
	}
}

// counterAheadSparesRunning: a node whose clock is ahead by less than a
// minute, calling on other keys (64 calls: a store sweeping one call in 64
// sweeps among them; memory sweeps at most once a minute by the caller's
// clock, its first call here), does not remove a window still running by
// the clock of the node that counts it: that node counts on. Removing it
// would hand every key a fresh window (a login-retry lockout lifted) on
// each sweep by a node slightly ahead. The lead is the whole minute the
// contract spares, less a millisecond: a store with a shorter margin
// (30 s) fails.
func counterAheadSparesRunning(t *testing.T, f *fixture, c sessiond.WindowCounter) {
	now, w := counterNow(), time.Minute
	incr(f, c, "running", now, w, 1, now.Add(w))
	ahead := now.Add(w + time.Minute - time.Millisecond) // the running window ended just under a minute ago by this clock
	for i := range 64 {
		incr(f, c, fmt.Sprintf("ahead:%d", i), ahead, w, 1, ahead.Add(w))
	}
	incr(f, c, "running", now.Add(w-time.Second), w, 2, now.Add(w))
}

func counterBadInput(t *testing.T, f *fixture, c sessiond.WindowCounter) {
	now := counterNow()
	cases := []struct {
		name   string
		key    string
		window time.Duration
	}{
		{"empty key", "", time.Minute},
		{"long key", strings.Repeat("x", sessiond.MaxCounterKey+1), time.Minute},
		{"space", "a b", time.Minute},
		{"control", "a\nb", time.Minute},
		{"non-ASCII", "caf\u00e9", time.Minute},
		{"zero window", "ok", 0},
		{"negative window", "ok", -time.Second},
	}
	for _, tc := range cases {
		if _, _, err := c.Incr(f.ctx, tc.key, now, tc.window); !errors.Is(err, sessiond.ErrInvalidArgument) {
			t.Errorf("%s: Incr(%q, %v) = %v; want ErrInvalidArgument", tc.name, tc.key, tc.window, err)
		}
	}
	incr(f, c, "ok", now, time.Minute, 1, now.Add(time.Minute)) // the refused calls counted nothing
}
