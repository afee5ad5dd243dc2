package ratelimit_test

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/sessiond/sessiond/internal/ratelimit"
	"github.com/sessiond/sessiond/sessiondtest"
)

func TestLimiter_Allow(t *testing.T) {
	clock := sessiondtest.NewClock(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC))
	l := ratelimit.New(ratelimit.Options{Rate: 0.5, Burst: 3, Clock: clock})
	for i := range 3 {
		if ok, _ := l.Allow("a"); !ok {
			t.Fatalf("event %d of the burst refused", i+1)
		}
	}
	ok, retry := l.Allow("a")
	if ok || retry != 2*time.Second {
		t.Fatalf("over the burst: Allow = %v, retry %v; want false, 2s", ok, retry)
	}
	// Refused events spend nothing: after retry, one is allowed.
	for range 10 {
		l.Allow("a")
	}
	if ok, _ := l.Allow("b"); !ok {
		t.Error("another key shares the bucket")
	}
	clock.Advance(2 * time.Second)
	if ok, _ := l.Allow("a"); !ok {
		t.Error("refused after Retry-After")
	}
	if ok, _ := l.Allow("a"); ok {
		t.Error("a refill of one allowed two")
	}

	var nilL *ratelimit.Limiter
	if ok, _ := nilL.Allow("x"); !ok {
		t.Error("a nil Limiter refused")
	}
	if ok, _ := ratelimit.New(ratelimit.Options{}).Allow("x"); !ok {
		t.Error("a Limiter without a rate refused")
	}
}

// TestLimiter_Bounded: a flood of distinct keys keeps memory bounded.
func TestLimiter_Bounded(t *testing.T) {
	clock := sessiondtest.NewClock(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC))
	l := ratelimit.New(ratelimit.Options{Rate: 1, Burst: 2, MaxKeys: 100, Clock: clock})
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for i := range 1000 {
				l.Allow(fmt.Sprintf("%d-%d", w, i))
			}
		})
	}
	wg.Wait()
	if n := l.Len(); n > 100 {
		t.Errorf("Len = %d after 4000 keys; want at most 100", n)
	}
}

// TestLimiter_EvictionKeepsSpentBuckets: a client held back by its limit
// cannot start again with a full burst by flooding the Limiter with new
// keys (addresses) until it evicts: the keys a flood adds, which spent one
// event each, go before a bucket that spent more.
func TestLimiter_EvictionKeepsSpentBuckets(t *testing.T) {
	for _, tc := range []struct {
		name         string
		burst, spent int
	}{
		{"drained, burst 2", 2, 2},
		{"drained, burst 20", 20, 20},
		{"partly spent", 5, 4},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clock := sessiondtest.NewClock(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC))
			l := ratelimit.New(ratelimit.Options{Rate: 1.0 / 60, Burst: tc.burst, MaxKeys: 100, Clock: clock})
			for range tc.spent {
				l.Allow("held")
			}
			// Ten rounds of a full Limiter's worth of new keys, with no
			// time passing: each round evicts.
			for round := range 10 {
				for i := range 100 {
					l.Allow(fmt.Sprintf("flood-%d-%d", round, i))
				}
			}
			if n := l.Len(); n > 100 {
				t.Errorf("Len = %d after the floods; want at most 100", n)
			}
			allowed := 0
			for range tc.burst {
				if ok, _ := l.Allow("held"); ok {
					allowed++
				}
			}
			if want := tc.burst - tc.spent; allowed != want {
				t.Errorf("after the floods the held key was allowed %d events; want the %d it had left", allowed, want)
			}
		})
	}
}

func ExampleLimiter() {
	l := ratelimit.New(ratelimit.Options{Rate: 1, Burst: 2})
	for range 3 {
		ok, retryAfter := l.Allow("198.51.100.7")
		fmt.Println(ok, retryAfter)
	}
	// Output:
	// true 0s
	// true 0s
	// false 1s
}

// TestAddrKey: IPv4 as it is; IPv6 by its /64, zone and IPv4 mapping
// dropped, so a client cannot move through its own addresses; anything
// else unchanged.
func TestAddrKey(t *testing.T) {
	for in, want := range map[string]string{
		"192.0.2.7":            "192.0.2.7",
		"::ffff:192.0.2.7":     "192.0.2.7",
		"2001:db8:1:2::1":      "2001:db8:1:2::/64",
		"2001:db8:1:2:ffff::9": "2001:db8:1:2::/64",
		"2001:db8:1:3::1":      "2001:db8:1:3::/64",
		"fe80::1%eth0":         "fe80::/64",
		"not-an-address":       "not-an-address",
		"":                     "",
	} {
		if got := ratelimit.AddrKey(in); got != want {
			t.Errorf("AddrKey(%q) = %q; want %q", in, got, want)
		}
	}
}

// TestAddrKey_IPv4NoAllocation: keying an IPv4 browser costs no allocation,
// as the gateway's check keys every request by its address.
func TestAddrKey_IPv4NoAllocation(t *testing.T) {
	if n := testing.AllocsPerRun(100, func() { _ = ratelimit.AddrKey("192.0.2.7") }); n != 0 {
		t.Errorf("AddrKey of an IPv4 address: %v allocations; want 0", n)
	}
}

// TestLimiter_AllowLongWait: at a rate of one per the largest duration the
// wait overflowed a Duration inside the bucket, and every event was
// allowed; held at MinRate, the second event waits about 100 years.
func TestLimiter_AllowLongWait(t *testing.T) {
	clock := sessiondtest.NewClock(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC))
	for _, per := range []time.Duration{100 * 365 * 24 * time.Hour, 1<<63 - 1} {
		l := ratelimit.New(ratelimit.Options{Rate: 1 / per.Seconds(), Burst: 1, Clock: clock})
		l.Allow("a")
		if ok, retry := l.Allow("a"); ok || retry < 99*365*24*time.Hour {
			t.Errorf("per %v: Allow = %v, retry %v; want false and about 100 years", per, ok, retry)
		}
	}
}
