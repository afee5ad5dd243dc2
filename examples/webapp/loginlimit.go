package main

import (
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Failed sign-ins are counted per account and per client address in token
// buckets (golang.org/x/time/rate, as sessiond's own limits): once either
// is empty, sign-in answers 429 until it refills (OWASP ASVS 6.3.1,
// password guessing and credential stuffing). A successful sign-in costs
// nothing, so people who type their password right are never slowed.
const (
	accountFailures = 5                // failed sign-ins an account absorbs at once,
	accountRefill   = 30 * time.Second // then one more per this
	addrFailures    = 20               // the same for one client address,
	addrRefill      = 3 * time.Second  // across accounts
	maxTracked      = 10_000           // buckets kept per kind
)

type loginLimits struct {
	mu       sync.Mutex
	accounts map[string]*rate.Limiter
	addrs    map[string]*rate.Limiter
}

func newLoginLimits() *loginLimits {
	return &loginLimits{accounts: map[string]*rate.Limiter{}, addrs: map[string]*rate.Limiter{}}
}

// throttled reports whether account or addr has no failure left to spend.
func (l *loginLimits) throttled(account, addr string, now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	a := l.bucket(l.accounts, account, accountRefill, accountFailures, now)
	b := l.bucket(l.addrs, addr, addrRefill, addrFailures, now)
	return a == nil || b == nil || a.TokensAt(now) < 1 || b.TokensAt(now) < 1
}

// failed spends one failure of account and of addr.
func (l *loginLimits) failed(account, addr string, now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, b := range []*rate.Limiter{
		l.bucket(l.accounts, account, accountRefill, accountFailures, now),
		l.bucket(l.addrs, addr, addrRefill, addrFailures, now),
	} {
		if b != nil {
			b.AllowN(now, 1)
		}
	}
}

// bucket returns key's bucket, making it if need be. When m is full the
// buckets that have refilled (nothing to remember) are dropped first; if
// none has, it returns nil, and the caller treats the key as throttled: a
// flood of made-up names or addresses must not reset a real account's
// count.
func (l *loginLimits) bucket(m map[string]*rate.Limiter, key string, every time.Duration, burst int, now time.Time) *rate.Limiter {
	if b, ok := m[key]; ok {
		return b
	}
	if len(m) >= maxTracked {
		for k, b := range m {
			if b.TokensAt(now) >= float64(b.Burst()) {
				delete(m, k)
			}
		}
		if len(m) >= maxTracked {
			return nil
		}
	}
	b := rate.NewLimiter(rate.Every(every), burst)
	m[key] = b
	return b
}
