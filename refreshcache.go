package sessiond

import (
	"bytes"
	"time"
)

// grantCache remembers, for each refresh token this node stored, the
// session as it was written with that token, so that presenting the token
// here again skips the store's Lookup: a hybrid refresh then costs the
// store one call, the swap, instead of two.
//
// It is safe because the swap is the authority, not the cache. The swap
// retires the token only if it is current and refuses a revoked session in
// its own atomic step (Store.SwapRefresh), exactly as it does after a
// Lookup that a concurrent change made stale. What the cache adds is a
// longer gap between the read and the swap, and three rules keep that gap
// from changing any answer:
//   - an entry lives at most the access-token lifetime, and a session
//     revoked while it lives is in the revoked set (entries there live
//     the access lifetime past the revocation) or under a watermark;
//   - an entry is taken out when it is used, so a token presented twice
//     on one node goes to the store the second time;
//   - anything about the cached session that the full path would refuse
//     (revoked, expired, token past its expiry) sends the refresh through
//     the full path instead, before any check with side effects has run.
//
// What a node cannot know yet (a revocation made on another node, until
// the feed brings it: milliseconds on PostgreSQL and Redis) the swap
// refuses with the same error; the checks that run before the swap (a
// DPoP proof, the anomaly rules) may then have run on that revoked
// session, as they can today between a Lookup and the swap.
type grantCache struct {
	ttl     time.Duration
	entries shardedMap[TokenHash, grantEntry]
}

type grantEntry struct {
	session Session
	expires time.Time // the token's own expiry
	until   time.Time // when the entry stops being trusted
}

func newGrantCache(size int, ttl time.Duration) *grantCache {
	c := &grantCache{ttl: ttl}
	c.entries.init(size)
	return c
}

// grantPart: token hashes are already uniform, so their first byte picks
// the cache's part.
func grantPart(h TokenHash) uint64 { return uint64(h[0]) }

// put remembers token t, stored at now with session s.
func (c *grantCache) put(t Token, s *Session, now time.Time) {
	e := grantEntry{session: *s, expires: t.ExpiresAt, until: now.Add(c.ttl)}
	// The caller keeps s; the entry must not share its claims.
	e.session.Claims = bytes.Clone(s.Claims)
	c.entries.put(grantPart(t.Hash), t.Hash, e)
}

// take removes and returns the entry of h, if it is still trusted at now.
func (c *grantCache) take(h TokenHash, now time.Time) (grantEntry, bool) {
	e, ok := c.entries.take(grantPart(h), h)
	if !ok || !now.Before(e.until) {
		return grantEntry{}, false
	}
	return e, true
}

// keep remembers the refresh tokens among tokens, which the store now
// holds with s, written at now. A nil cache keeps nothing.
func (c *grantCache) keep(s *Session, tokens []Token, now time.Time) {
	if c == nil {
		return
	}
	for _, t := range tokens {
		if t.Kind == KindRefresh {
			c.put(t, s, now)
		}
	}
}

// prune drops entries no longer trusted at now.
func (c *grantCache) prune(now time.Time) {
	c.entries.deleteIf(func(e grantEntry) bool { return !now.Before(e.until) })
}

func (c *grantCache) len() int { return c.entries.len() }
