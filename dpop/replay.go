package dpop

import (
	"context"
	"sync"
	"time"

	"github.com/sessiond/sessiond"
)

// ReplayCache remembers proof identifiers until they expire.
//
// Remember records key until the given time and reports fresh=false when the
// key is already remembered (a replay). It must be atomic across every node
// that shares it. A sessiond store that implements sessiond.ReplayGuard
// satisfies this interface as it is.
type ReplayCache interface {
	Remember(ctx context.Context, key string, until time.Time) (fresh bool, err error)
}

// MemoryReplay is a ReplayCache in this process's memory: correct for a single
// node only.
type MemoryReplay struct {
	clock sessiond.Clock
	mu    sync.Mutex
	seen  map[string]time.Time
	next  time.Time // next sweep of expired entries
}

// NewMemoryReplay returns an empty in-memory cache; nil clock means the wall clock.
func NewMemoryReplay(clock sessiond.Clock) *MemoryReplay {
	if clock == nil {
		clock = sessiond.SystemClock{}
	}
	return &MemoryReplay{clock: clock, seen: make(map[string]time.Time)}
}

// Remember implements ReplayCache.
func (m *MemoryReplay) Remember(_ context.Context, key string, until time.Time) (bool, error) {
	now := m.clock.Now()
	m.mu.Lock()
	defer m.mu.Unlock()
	if !now.Before(m.next) {
		for k, exp := range m.seen {
			if !now.Before(exp) {
				delete(m.seen, k)
			}
		}
		m.next = now.Add(time.Minute)
	}
	if exp, ok := m.seen[key]; ok && now.Before(exp) {
		return false, nil
	}
	m.seen[key] = until
	return true, nil
}
