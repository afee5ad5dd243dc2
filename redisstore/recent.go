package redisstore

import (
	"sync"
	"time"
)

// recentWrites remembers the keys this store wrote in the last one to two
// windows, so reads of them bypass the client-side cache until Redis's
// invalidation push has surely arrived: Redis sends a connection the
// invalidations caused by its own command after that command's reply
// (redis/redis#9422), so a read issued right after a write could still
// hit the old entry. Two generations of maps rotate each window, so memory
// is bounded by the writes of two windows.
type recentWrites struct {
	window time.Duration

	mu        sync.RWMutex
	cur, prev map[string]struct{}
	rotated   time.Time // when cur was started
	allUntil  time.Time // every key counts as written until then (addAll)
}

func newRecentWrites(window time.Duration) *recentWrites {
	return &recentWrites{window: window, cur: make(map[string]struct{}), rotated: time.Now()}
}

func (r *recentWrites) add(keys ...string) {
	now := time.Now()
	r.mu.Lock()
	defer r.mu.Unlock()
	switch age := now.Sub(r.rotated); {
	case age >= 2*r.window:
		r.prev, r.cur = nil, make(map[string]struct{})
		r.rotated = now
	case age >= r.window:
		r.prev, r.cur = r.cur, make(map[string]struct{})
		r.rotated = now
	}
	for _, k := range keys {
		r.cur[k] = struct{}{}
	}
}

// addAll counts every key as just written, for a change too large to list
// (a bulk revocation): for two windows nothing is read from the cache.
func (r *recentWrites) addAll() {
	until := time.Now().Add(2 * r.window)
	r.mu.Lock()
	defer r.mu.Unlock()
	if until.After(r.allUntil) {
		r.allUntil = until
	}
}

func (r *recentWrites) has(key string) bool {
	r.mu.RLock()
	defer r.mu.RUnlock()
	if len(r.cur) == 0 && len(r.prev) == 0 && r.allUntil.IsZero() {
		return false
	}
	now := time.Now()
	if now.Before(r.allUntil) {
		return true
	}
	age := now.Sub(r.rotated)
	if age >= 2*r.window {
		return false
	}
	if _, ok := r.cur[key]; ok {
		return true
	}
	if age < r.window {
		_, ok := r.prev[key]
		return ok
	}
	return false
}
