package dpop

import (
	"context"
	"sync"
	"time"

	"github.com/sessiond/sessiond"
)

// ReplayCache remembers proof identifiers until they expire.
//
// RememberOnce records key until the given time and reports fresh=false when
// the key is already remembered at now (a replay). It must be atomic across
// every node that shares it. A sessiond store that implements
// sessiond.ReplayGuard (memstore, redisstore) satisfies this interface as it
// is, and shares the cache between the nodes on that store.
type ReplayCache = sessiond.ReplayGuard

// MemoryReplay is a ReplayCache in this process's memory: correct for a single
// node only.
type MemoryReplay struct {
	mu   sync.Mutex
	seen map[string]time.Time
	next time.Time // next sweep of expired entries
}

// NewMemoryReplay returns an empty in-memory cache.
func NewMemoryReplay() *MemoryReplay {
	return &MemoryReplay{seen: make(map[string]time.Time)}
}

// RememberOnce implements ReplayCache.
func (m *MemoryReplay) RememberOnce(_ context.Context, key string, now, until time.Time) (bool, error) {
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
