package sessiondtest

import (
	"errors"
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
// or window is ErrInvalidArgument and counts nothing.
func TestWindowCounter(t *testing.T, newStore func(t *testing.T) sessiond.Store) {
	runSuite(t, newStore, []subtest[sessiond.WindowCounter]{
		{"Window", counterWindow},
		{"Keys", counterKeys},
		{"Concurrent", counterConcurrent},
		{"BadInput", counterBadInput},
	})
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
