package sessiond

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// ReplayMemory is a ReplayGuard in one process's memory: correct for a
// single node only. The zero value is ready to use and safe for concurrent
// use. Expired keys are swept at most once a minute, on the way.
type ReplayMemory struct {
	mu   sync.Mutex
	seen map[string]time.Time // key → until
	next time.Time            // next sweep of expired keys
}

var _ ReplayGuard = (*ReplayMemory)(nil)

// RememberOnce records key until `until` and reports fresh=false when it is
// already recorded and not expired at now (a replay). An empty key is
// ErrInvalidArgument and records nothing, as on every store
// (CheckReplayKey).
func (m *ReplayMemory) RememberOnce(_ context.Context, key string, now, until time.Time) (bool, error) {
	if err := CheckReplayKey(key); err != nil {
		return false, fmt.Errorf("sessiond: remember once: %w", err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.seen == nil {
		m.seen = map[string]time.Time{}
	}
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

// Len returns how many keys are recorded, expired ones not yet swept
// included.
func (m *ReplayMemory) Len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.seen)
}
