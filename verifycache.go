package sessiond

import (
	"crypto/subtle"
	"hash/maphash"
	"sync"
	"time"
)

// verifyCache remembers signed tokens that verified, so a token presented
// again skips the signature check. Keys are a seeded in-process hash of the
// token; the entry keeps the token itself and a hit compares it in constant
// time, so a hash collision can never return another token's claims.
// Expiry and revocation are still checked by the caller on every hit.
type verifyCache struct {
	seed   maphash.Seed
	max    int // per shard
	shards [cacheShards]cacheShard
}

const cacheShards = 16

type cacheShard struct {
	mu sync.RWMutex
	m  map[uint64]*cacheEntry
}

type cacheEntry struct {
	token    string
	claims   TokenClaims
	deadline time.Time // expiry plus leeway: the entry is useless after it
}

func newVerifyCache(size int) *verifyCache {
	c := &verifyCache{seed: maphash.MakeSeed(), max: max(1, size/cacheShards)}
	for i := range c.shards {
		c.shards[i].m = make(map[uint64]*cacheEntry)
	}
	return c
}

func (c *verifyCache) get(tok string, now time.Time) (*TokenClaims, bool) {
	h := maphash.String(c.seed, tok)
	s := &c.shards[h%cacheShards]
	s.mu.RLock()
	e := s.m[h]
	s.mu.RUnlock()
	if e == nil || subtle.ConstantTimeCompare([]byte(e.token), []byte(tok)) != 1 || !now.Before(e.deadline) {
		return nil, false
	}
	return &e.claims, true
}

func (c *verifyCache) put(tok string, claims TokenClaims, deadline time.Time) {
	h := maphash.String(c.seed, tok)
	s := &c.shards[h%cacheShards]
	e := &cacheEntry{token: tok, claims: claims, deadline: deadline}
	s.mu.Lock()
	if len(s.m) >= c.max {
		// Evict an arbitrary eighth of the shard: map order is random, and
		// a rare bulk eviction is cheaper than LRU bookkeeping on every hit.
		n := c.max / 8
		for k := range s.m {
			delete(s.m, k)
			if n--; n <= 0 {
				break
			}
		}
	}
	s.m[h] = e
	s.mu.Unlock()
}

// prune drops entries past their deadline.
func (c *verifyCache) prune(now time.Time) {
	for i := range c.shards {
		s := &c.shards[i]
		s.mu.Lock()
		for k, e := range s.m {
			if !now.Before(e.deadline) {
				delete(s.m, k)
			}
		}
		s.mu.Unlock()
	}
}

// purge empties the cache (after a signing-key incident).
func (c *verifyCache) purge() {
	for i := range c.shards {
		s := &c.shards[i]
		s.mu.Lock()
		clear(s.m)
		s.mu.Unlock()
	}
}

func (c *verifyCache) len() int {
	n := 0
	for i := range c.shards {
		s := &c.shards[i]
		s.mu.RLock()
		n += len(s.m)
		s.mu.RUnlock()
	}
	return n
}
