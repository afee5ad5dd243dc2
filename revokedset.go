package sessiond

import (
	"sync"
	"time"
)

// revokedSet is the in-process set of revoked session IDs the hybrid
// strategy checks on every verify. An entry is dropped once no access token
// of its session can still be live, so the set holds at most one access
// lifetime's worth of revocations.
//
// A nil *revokedSet is an empty set that ignores additions: the flows
// without one (database, jwt) need no checks at their call sites.
type revokedSet struct {
	access time.Duration // the access-token lifetime
	leeway time.Duration // the signer's clock-skew allowance

	mu sync.RWMutex
	m  map[SessionID]time.Time // session ID → when the entry may be dropped
}

func newRevokedSet(access, leeway time.Duration) *revokedSet {
	return &revokedSet{access: access, leeway: leeway, m: make(map[SessionID]time.Time)}
}

// note adds revocation r, unless every access token of its session has
// already expired at now.
func (r *revokedSet) note(rev Revocation, now time.Time) {
	if r == nil {
		return
	}
	// No access token of the session outlives drop.
	drop := minTime(rev.RevokedAt.Add(r.access), rev.ExpiresAt).Add(r.leeway + time.Second)
	if drop.After(now) {
		r.add(rev.SessionID, drop)
	}
}

// since is how far back revocations can still matter at now: what a node
// reloads from the store to rebuild the set.
func (r *revokedSet) since(now time.Time) time.Time {
	return now.Add(-r.access - r.leeway - time.Second)
}

func (r *revokedSet) add(id SessionID, dropAt time.Time) {
	r.mu.Lock()
	if old, ok := r.m[id]; !ok || dropAt.After(old) {
		r.m[id] = dropAt
	}
	r.mu.Unlock()
}

func (r *revokedSet) has(id SessionID) bool {
	if r == nil {
		return false
	}
	r.mu.RLock()
	_, ok := r.m[id]
	r.mu.RUnlock()
	return ok
}

// prune drops entries whose drop time is before now and returns how many remain.
func (r *revokedSet) prune(now time.Time) int {
	if r == nil {
		return 0
	}
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
	if r == nil {
		return 0
	}
	r.mu.RLock()
	defer r.mu.RUnlock()
	return len(r.m)
}
