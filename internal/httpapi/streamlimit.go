package httpapi

import (
	"context"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/sessiond/sessiond"
)

// A revocation stream holds a connection, a goroutine and its buffers for
// as long as its client stays. Without a bound per API key, one key (a
// leaked verify key, a deployment that reconnects without closing) could
// open streams until the listener's connection budget is spent, and every
// other client of the node would wait. Each verifier instance holds one
// stream, so the bound sits far above what a deployment opens.

// streamRetryAfter is the Retry-After of a stream refused for its key's
// limit: a slot frees when one of the key's streams ends, and a retry
// sooner would most likely be refused again.
const streamRetryAfter = 5 * time.Second

// streamWarnEvery is how often, at most, a node logs that it refused
// streams for a key's limit.
const streamWarnEvery = time.Minute

// streamLimit counts the revocation streams each API key holds open on
// this node. A nil *streamLimit limits nothing. It is safe for concurrent
// use.
type streamLimit struct {
	max   int
	clock sessiond.Clock
	log   *slog.Logger

	mu      sync.Mutex
	open    map[string]int // API key ID → its open streams; no zero entries
	warned  time.Time      // when the last refusal was logged
	refused int            // refusals since then
}

// newStreamLimit returns the limit of n streams per key; nil when n is
// not positive.
func newStreamLimit(n int, clock sessiond.Clock, log *slog.Logger) *streamLimit {
	if n <= 0 {
		return nil
	}
	return &streamLimit{max: n, clock: clock, log: log, open: map[string]int{}}
}

// acquire takes one of key's slots and reports true, or reports false when
// key holds max streams already. Each slot taken is given back with one
// release. Refusals are logged at most once per streamWarnEvery, with how
// many there were, so a client reconnecting in a loop does not write a
// line per attempt.
func (l *streamLimit) acquire(ctx context.Context, key, reqID string) bool {
	if l == nil {
		return true
	}
	l.mu.Lock()
	if n := l.open[key]; n < l.max {
		l.open[key] = n + 1
		l.mu.Unlock()
		return true
	}
	l.refused++
	refused, now := l.refused, l.clock.Now()
	warn := l.warned.IsZero() || now.Sub(l.warned) >= streamWarnEvery
	if warn {
		l.warned, l.refused = now, 0
	}
	l.mu.Unlock()
	if warn {
		l.log.LogAttrs(ctx, slog.LevelWarn, "revocation streams refused: an API key holds the most this node allows",
			slog.String("request_id", reqID), slog.String("api_key_id", key), slog.Int("limit", l.max),
			slog.Int("refused", refused))
	}
	return false
}

// release gives back a slot acquire took for key.
func (l *streamLimit) release(key string) {
	if l == nil {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if n := l.open[key]; n > 1 {
		l.open[key] = n - 1
	} else {
		delete(l.open, key)
	}
}

// refusal is the problem detail of a stream refused for its key's limit.
func (l *streamLimit) refusal() string {
	return "this API key holds the most revocation streams this node allows (" + strconv.Itoa(l.max) +
		"); close one, or retry later"
}
