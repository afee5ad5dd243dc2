package redisstore_test

import (
	"testing"
	"time"

	"github.com/sessiond/sessiond/redisstore"
)

// TestIncr_TTL: a counter key lives for its window plus a second of
// margin for the nodes' clocks, from the call that starts the window:
// windows are fixed, so later calls in the window neither extend nor
// shorten it (a steady caller's key still expires), and the next window
// sets its own.
func TestIncr_TTL(t *testing.T) {
	st := newStore(t, redisstore.Options{})
	c := rawClient(t)
	ctx := t.Context()
	key := redisstore.PrefixOf(st) + ":count:ttl"
	pttl := func() time.Duration {
		t.Helper()
		ms, err := c.Do(ctx, c.B().Pttl().Key(key).Build()).AsInt64()
		if err != nil {
			t.Fatalf("PTTL %s = %v", key, err)
		}
		return time.Duration(ms) * time.Millisecond
	}
	// incr calls Incr and returns the key's time to live then, and the
	// most it may have lost since the script set it.
	incr := func(now time.Time, window time.Duration, want int64) (ttl, elapsed time.Duration) {
		t.Helper()
		start := time.Now()
		n, _, err := st.Incr(ctx, "ttl", now, window)
		if err != nil || n != want {
			t.Fatalf("Incr(ttl, %v, %v) = %d, %v; want %d", now, window, n, err, want)
		}
		ttl = pttl()
		return ttl, time.Since(start)
	}
	const margin = time.Second
	now := time.Now().UTC().Truncate(time.Millisecond)
	w := time.Minute

	ttl, elapsed := incr(now, w, 1)
	if ttl > w+margin || ttl < w+margin-elapsed-time.Millisecond {
		t.Fatalf("a new window's key lives %v; want its window %v plus %v (less the %v the calls took)", ttl, w, margin, elapsed)
	}
	// Later in the window, asking for a longer one: the key's expiry stays.
	prev := ttl
	if ttl, _ = incr(now.Add(30*time.Second), time.Hour, 2); ttl > prev {
		t.Fatalf("a call in the running window moved the key's expiry: %v to live, was %v; want it kept (fixed windows)", ttl, prev)
	}
	// The next window starts its own time to live.
	w2 := 10 * time.Second
	ttl, elapsed = incr(now.Add(w), w2, 1)
	if ttl > w2+margin || ttl < w2+margin-elapsed-time.Millisecond {
		t.Fatalf("the next window's key lives %v; want its window %v plus %v (less the %v the calls took)", ttl, w2, margin, elapsed)
	}
}

// TestCounterKeyHeld: the counter suite's hook counts a key that expired
// after SCAN listed it as gone, not as an error: PTTL finds nothing, or
// HGET's reply is nil (the key expired between the two reads, made here
// by a key whose window field is missing).
func TestCounterKeyHeld(t *testing.T) {
	st := newStore(t, redisstore.Options{})
	c := rawClient(t)
	ctx := t.Context()
	now := time.Now()
	if _, _, err := st.Incr(ctx, "live", now, time.Minute); err != nil {
		t.Fatal(err)
	}
	half := redisstore.PrefixOf(st) + ":count:half"
	if err := c.Do(ctx, c.B().Hset().Key(half).FieldValue().FieldValue("c", "1").Build()).Error(); err != nil {
		t.Fatal(err)
	}
	if err := c.Do(ctx, c.B().Pexpire().Key(half).Milliseconds(time.Minute.Milliseconds()).Build()).Error(); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		want bool
	}{
		{"live", true},
		{"gone", false}, // never written, or expired before PTTL
		{"half", false}, // expired between PTTL and HGET
	} {
		held, err := st.CounterKeyHeld(ctx, tc.name, now)
		if err != nil || held != tc.want {
			t.Errorf("CounterKeyHeld(%s) = %v, %v; want %v, nil", tc.name, held, err, tc.want)
		}
	}
}
