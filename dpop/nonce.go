package dpop

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/binary"
	"fmt"
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
// lives between one and two periods. Nodes behind one load balancer need
// SharedNonces or sticky routing (a client retries once with the new nonce).
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

// MinNonceSecret is the shortest secret NewSharedNonces accepts: 256 bits.
const MinNonceSecret = 32

// SharedNonces is a NonceSource every node of a deployment computes alike
// from one shared secret, with no state of its own: the nonce of a time
// bucket (period long) is HMAC-SHA256(secret, bucket number). A nonce from
// the current or the previous bucket is accepted, so a nonce lives between
// one and two periods, and a client sent to another node by the load
// balancer keeps working. A nonce made with another secret (another
// deployment), an older bucket or any other string is refused. It is safe
// for concurrent use.
type SharedNonces struct {
	// secret is behind a pointer so that printing the source (%v, %+v, a
	// slog attribute) shows an address, never the secret.
	secret *[]byte
	period time.Duration
	clock  sessiond.Clock
}

// NewSharedNonces returns a source for secret (at least MinNonceSecret
// random bytes, the same on every node), changing every period (zero: 5
// minutes; at least a second).
func NewSharedNonces(secret []byte, period time.Duration, clock sessiond.Clock) (*SharedNonces, error) {
	if len(secret) < MinNonceSecret {
		return nil, fmt.Errorf("dpop: nonce secret is %d bytes; want at least %d", len(secret), MinNonceSecret)
	}
	if period == 0 {
		period = 5 * time.Minute
	}
	if period < time.Second {
		return nil, fmt.Errorf("dpop: nonce period %s is under a second", period)
	}
	if clock == nil {
		clock = sessiond.SystemClock{}
	}
	secret = bytes.Clone(secret)
	return &SharedNonces{secret: &secret, period: period, clock: clock}, nil
}

// bucket is the number of the period that holds now.
func (s *SharedNonces) bucket() int64 {
	return s.clock.Now().UnixNano() / int64(s.period)
}

// nonceLen is the length of a SharedNonces nonce: base64url of 32 bytes.
const nonceLen = 43

func (s *SharedNonces) nonce(bucket int64) string {
	m := hmac.New(sha256.New, *s.secret)
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], uint64(bucket))
	m.Write([]byte("sessiond dpop nonce\x00")) // a label: the secret serves nothing else, but say so
	m.Write(b[:])
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// Current implements NonceSource.
func (s *SharedNonces) Current(context.Context) (string, error) {
	return s.nonce(s.bucket()), nil
}

// Valid implements NonceSource: both candidates are always compared, in
// constant time, so the answer's timing tells nothing about which matched.
func (s *SharedNonces) Valid(_ context.Context, nonce string) (bool, error) {
	if len(nonce) != nonceLen {
		return false, nil // its length is no secret
	}
	b := s.bucket()
	cur := subtle.ConstantTimeCompare([]byte(nonce), []byte(s.nonce(b)))
	prev := subtle.ConstantTimeCompare([]byte(nonce), []byte(s.nonce(b-1)))
	return cur|prev == 1, nil
}
