package sessiond

import (
	"crypto/subtle"
	"hash/maphash"
	"sync/atomic"
	"time"
)

// verifyCache remembers signed tokens that verified, so a token presented
// again skips the signature check. Keys are a seeded in-process hash of the
// token; the entry keeps the token itself and a hit compares it in constant
// time, so a hash collision can never return another token's claims.
// Expiry and revocation are still checked by the caller on every hit.
type verifyCache struct {
	seed    maphash.Seed
	entries shardedMap[uint64, *cacheEntry]
	// gen counts purges: a token whose signature was checked before a purge
	// (keys retired meanwhile) must not be cached after it.
	gen atomic.Uint64
}

type cacheEntry struct {
	token    string
	claims   TokenClaims
	deadline time.Time // expiry plus leeway: the entry is useless after it
}

func newVerifyCache(size int) *verifyCache {
	c := &verifyCache{seed: maphash.MakeSeed()}
	c.entries.init(size)
	return c
}

func (c *verifyCache) get(tok string, now time.Time) (*TokenClaims, bool) {
	h := maphash.String(c.seed, tok)
	e, _ := c.entries.get(h, h)
	if e == nil || subtle.ConstantTimeCompare([]byte(e.token), []byte(tok)) != 1 || !now.Before(e.deadline) {
		return nil, false
	}
	return &e.claims, true
}

// generation is read before a signature is checked and handed to put.
func (c *verifyCache) generation() uint64 { return c.gen.Load() }

// put caches a token verified in generation gen, unless a purge came since.
func (c *verifyCache) put(tok string, claims TokenClaims, deadline time.Time, gen uint64) {
	if c.gen.Load() != gen {
		return
	}
	h := maphash.String(c.seed, tok)
	c.entries.put(h, h, &cacheEntry{token: tok, claims: claims, deadline: deadline})
	if c.gen.Load() != gen {
		c.entries.take(h, h) // a purge ran between the check and the put
	}
}

// prune drops entries past their deadline.
func (c *verifyCache) prune(now time.Time) {
	c.entries.deleteIf(func(e *cacheEntry) bool { return !now.Before(e.deadline) })
}

// purge empties the cache (after a signing-key incident).
func (c *verifyCache) purge() {
	c.gen.Add(1)
	c.entries.clear()
}

func (c *verifyCache) len() int { return c.entries.len() }
