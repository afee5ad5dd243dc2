package sessiond

import (
	"sync"
	"time"
)

// revokedSet is the in-process set of revoked session IDs the hybrid
// strategy checks on every verify. An entry is dropped once no access token
// of its session can still be live, so the set holds at most one access
// lifetime's worth of revocations.
type revokedSet struct {
	mu sync.RWMutex
	m  map[SessionID]time.Time // session ID → when the entry may be dropped
}

func newRevokedSet() *revokedSet { return &revokedSet{m: make(map[SessionID]time.Time)} }

func (r *revokedSet) add(id SessionID, dropAt time.Time) {
	r.mu.Lock()
	if old, ok := r.m[id]; !ok || dropAt.After(old) {
		r.m[id] = dropAt
	}
	r.mu.Unlock()
}

func (r *revokedSet) has(id SessionID) bool {
	r.mu.RLock()
	_, ok := r.m[id]
	r.mu.RUnlock()
	return ok
}

// prune drops entries whose drop time is before now and returns how many remain.
func (r *revokedSet) prune(now time.Time) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	for id, t := range r.m {
		if t.Before(now) {
			delete(r.m, id)
		}
	}
	return len(r.m)
}

func (r *revokedSet) len() int {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return len(r.m)
}
