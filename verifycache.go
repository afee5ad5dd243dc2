package sessiond

import (
	"crypto/subtle"
	"hash/maphash"
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

func (c *verifyCache) put(tok string, claims TokenClaims, deadline time.Time) {
	h := maphash.String(c.seed, tok)
	c.entries.put(h, h, &cacheEntry{token: tok, claims: claims, deadline: deadline})
}

// prune drops entries past their deadline.
func (c *verifyCache) prune(now time.Time) {
	c.entries.deleteIf(func(e *cacheEntry) bool { return !now.Before(e.deadline) })
}

// purge empties the cache (after a signing-key incident).
func (c *verifyCache) purge() { c.entries.clear() }

func (c *verifyCache) len() int { return c.entries.len() }
