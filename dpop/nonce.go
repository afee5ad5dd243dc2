package dpop

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"sync"
	"time"

	"github.com/sessiond/sessiond"
)

// NonceSource hands out server nonces (DPoP-Nonce) and checks them.
type NonceSource interface {
	// Current is the nonce to send to clients now.
	Current(ctx context.Context) (string, error)
	// Valid reports whether a nonce from a proof is still accepted.
	Valid(ctx context.Context, nonce string) (bool, error)
}

// RotatingNonces is a NonceSource in memory: a random 128-bit nonce replaced
// every period; the current and the previous one are accepted, so a nonce
// lives between one and two periods. Nodes behind one load balancer need a
// shared source or sticky routing (a client retries once with the new nonce).
type RotatingNonces struct {
	clock  sessiond.Clock
	period time.Duration
	mu     sync.Mutex
	cur    string
	prev   string
	until  time.Time
}

// NewRotatingNonces returns a source rotating every period (zero: 5 minutes).
func NewRotatingNonces(clock sessiond.Clock, period time.Duration) *RotatingNonces {
	if clock == nil {
		clock = sessiond.SystemClock{}
	}
	if period <= 0 {
		period = 5 * time.Minute
	}
	return &RotatingNonces{clock: clock, period: period}
}

func (r *RotatingNonces) rotate() {
	now := r.clock.Now()
	if r.cur != "" && now.Before(r.until) {
		return
	}
	if r.cur != "" && now.Before(r.until.Add(r.period)) {
		r.prev = r.cur
	} else {
		r.prev = ""
	}
	r.cur = rand.Text()
	r.until = now.Add(r.period)
}

// Current implements NonceSource.
func (r *RotatingNonces) Current(context.Context) (string, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.rotate()
	return r.cur, nil
}

// Valid implements NonceSource.
func (r *RotatingNonces) Valid(_ context.Context, nonce string) (bool, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.rotate()
	ok := subtle.ConstantTimeCompare([]byte(nonce), []byte(r.cur)) == 1
	if r.prev != "" && subtle.ConstantTimeCompare([]byte(nonce), []byte(r.prev)) == 1 {
		ok = true
	}
	return ok, nil
}
