// Package ratelimit keeps token buckets by key (a client address, an API
// key, a subject) in memory, on golang.org/x/time/rate. The HTTP API uses
// it for failed authentications and the busy routes; the browser routes
// can share it.
package ratelimit

import (
	"cmp"
	"math"
	"net/netip"
	"slices"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/sessiond/sessiond"
)

// DefaultMaxKeys bounds the keys a Limiter remembers when Options.MaxKeys
// is zero.
const DefaultMaxKeys = 100_000

// AddrPrefixV6 is the IPv6 network AddrKey keys a client by: one customer
// is given a /64 (or more), and can send each request from another of its
// 2^64 addresses.
const AddrPrefixV6 = 64

// AddrKey is the limiter key of a client address: an IPv4 address as it
// is, an IPv6 address as its /64 network, so that a client cannot escape
// a per-address limit by moving through the addresses it owns. Anything
// that is not an address is returned as it is.
func AddrKey(addr string) string {
	a, err := netip.ParseAddr(addr)
	if err != nil || a.Is4() {
		// ParseAddr takes IPv4 only in its canonical form: as it is, with
		// no allocation on the busiest routes (check, verify).
		return addr
	}
	a = a.WithZone("").Unmap()
	if a.Is4() {
		return a.String()
	}
	p, err := a.Prefix(AddrPrefixV6)
	if err != nil {
		return addr
	}
	return p.String()
}

// Options configure a Limiter.
type Options struct {
	// Rate is the sustained rate allowed per key, in events per second.
	// Zero or less: no limit (Allow always succeeds). A rate below
	// MinRate is held at MinRate.
	Rate float64
	// Burst is how many events a key may spend at once; below 1 means 1.
	Burst int
	// MaxKeys bounds the keys remembered. When full, keys whose bucket
	// has refilled are forgotten (they are as good as new), then the
	// fullest buckets until half the keys are left: a flood of new keys
	// costs bounded memory and evicts its own keys before those of
	// clients their limit holds back, which would otherwise start again
	// with a full burst. Zero means DefaultMaxKeys.
	MaxKeys int
	// Clock is the time source; nil means the system clock.
	Clock sessiond.Clock
}

// MinRate is the slowest rate a Limiter keeps: one event per 100 years.
// Slower, the time to refill a bucket overflows a Duration inside the
// token bucket, which then allowed every event, and the Retry-After
// wrapped to its 1 s floor.
const MinRate = rate.Limit(1 / (100 * 365 * 24 * 3600.0))

// Limiter allows events per key at a rate with a burst. Safe for
// concurrent use. The zero value is not usable; call New.
type Limiter struct {
	limit   rate.Limit
	burst   int
	maxKeys int
	clock   sessiond.Clock

	mu      sync.Mutex
	buckets map[string]*rate.Limiter
}

// New returns a Limiter.
func New(o Options) *Limiter {
	l := &Limiter{limit: rate.Limit(o.Rate), burst: max(o.Burst, 1), maxKeys: o.MaxKeys, clock: o.Clock,
		buckets: map[string]*rate.Limiter{}}
	if o.Rate <= 0 {
		l.limit = rate.Inf
	}
	l.limit = max(l.limit, MinRate)
	if l.maxKeys <= 0 {
		l.maxKeys = DefaultMaxKeys
	}
	if l.clock == nil {
		l.clock = sessiond.SystemClock{}
	}
	return l
}

// Allow spends one event of key. When the bucket is empty it returns
// false and how long until an event is allowed again (at least a second,
// as Retry-After counts whole seconds). A nil Limiter allows everything.
func (l *Limiter) Allow(key string) (ok bool, retryAfter time.Duration) {
	if l == nil || l.limit == rate.Inf {
		return true, 0
	}
	now := l.clock.Now()
	l.mu.Lock()
	b := l.buckets[key]
	if b == nil {
		if len(l.buckets) >= l.maxKeys {
			l.evict(now)
		}
		b = rate.NewLimiter(l.limit, l.burst)
		l.buckets[key] = b
	}
	// AllowN spends a token only when there is one, and allocates
	// nothing (ReserveN allocates its Reservation).
	if b.AllowN(now, 1) {
		l.mu.Unlock()
		return true, 0
	}
	delay := (1 - b.TokensAt(now)) / float64(l.limit) // seconds until a token
	l.mu.Unlock()
	return false, max(time.Duration(math.Ceil(delay))*time.Second, time.Second)
}

// evict makes room, fullest buckets first, so that a drained bucket (a
// client over its limit) is the last to be forgotten; l.mu is held. It
// runs once per maxKeys/2 new keys at most, so the sort is amortized.
func (l *Limiter) evict(now time.Time) {
	type held struct {
		key    string
		tokens float64
	}
	rest := make([]held, 0, len(l.buckets))
	for k, b := range l.buckets {
		if t := b.TokensAt(now); t >= float64(l.burst) {
			delete(l.buckets, k)
		} else {
			rest = append(rest, held{k, t})
		}
	}
	if len(l.buckets) < l.maxKeys/2 {
		return
	}
	slices.SortFunc(rest, func(a, b held) int { return cmp.Compare(b.tokens, a.tokens) })
	for _, h := range rest {
		if len(l.buckets) < l.maxKeys/2 {
			break
		}
		delete(l.buckets, h.key)
	}
}

// Len returns how many keys the Limiter remembers.
func (l *Limiter) Len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.buckets)
}
