package redisstore

import (
	"bytes"
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/rueidis"

	"github.com/sessiond/sessiond"
)

// decoded keeps the decoded result of recent Lookups when the client-side
// cache is on, so a repeated database-strategy verify costs a map read
// instead of re-decoding rueidis's cached RESP3 reply. It follows the
// same invalidations as rueidis's cache:
//
//   - Redis's invalidation push for a session key drops that key's entries
//     (rueidis hands them to OnInvalidations after clearing its own cache);
//   - a nil push (a flush, or rueidis giving up a connection) drops all, so
//     during an outage nothing is served from here either (fail closed);
//   - this store's own writes drop their keys at once (see wrote);
//   - every entry also expires after the ClientCache TTL, the bound when a
//     push is lost.
//
// An entry is only stored if no invalidation at all arrived while its
// value was being read (gen), so a push that overtakes a read can never
// leave the older value behind.
type decoded struct {
	ttl time.Duration
	gen atomic.Uint64

	mu     sync.RWMutex
	byHash map[sessiond.TokenHash]*decodedEntry
	byKey  map[string][]sessiond.TokenHash // session key → its cached tokens
}

type decodedEntry struct {
	key   string
	tok   sessiond.Token
	sess  sessiond.Session
	until time.Time // served before this only
}

const decodedMax = 1 << 16

func newDecoded(ttl time.Duration) *decoded {
	return &decoded{ttl: ttl, byHash: make(map[sessiond.TokenHash]*decodedEntry), byKey: make(map[string][]sessiond.TokenHash)}
}

// get returns copies of a fresh entry for h.
func (d *decoded) get(h sessiond.TokenHash, now time.Time) (sessiond.Token, *sessiond.Session, bool) {
	d.mu.RLock()
	e := d.byHash[h]
	d.mu.RUnlock()
	if e == nil || !now.Before(e.until) {
		return sessiond.Token{}, nil, false
	}
	s := e.sess
	if s.Claims != nil {
		s.Claims = bytes.Clone(s.Claims)
	}
	return e.tok, &s, true
}

// put stores a decoded lookup read while gen was gen0. cachedUntil is when
// the client-side cache entry it was decoded from expires (zero: unknown):
// the decoded entry expires no later, so that a reply that sat in that
// cache for a while is not served for another ttl on top (ClientCache in
// all bounds the staleness after a lost push).
func (d *decoded) put(gen0 uint64, h sessiond.TokenHash, key string, tok sessiond.Token, s *sessiond.Session, now, cachedUntil time.Time) {
	until := now.Add(d.ttl)
	if !cachedUntil.IsZero() && cachedUntil.Before(until) {
		until = cachedUntil
	}
	e := &decodedEntry{key: key, tok: tok, sess: *s, until: until}
	if s.Claims != nil {
		e.sess.Claims = bytes.Clone(s.Claims)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.gen.Load() != gen0 {
		return // something changed while we read: do not keep what we read
	}
	if len(d.byHash) >= decodedMax {
		clear(d.byHash)
		clear(d.byKey)
	}
	if _, ok := d.byHash[h]; !ok {
		d.byKey[key] = append(d.byKey[key], h)
	}
	d.byHash[h] = e
}

// invalidate drops the entries of keys, or all of them when keys is nil.
func (d *decoded) invalidate(keys []string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.gen.Add(1)
	if keys == nil {
		clear(d.byHash)
		clear(d.byKey)
		return
	}
	for _, k := range keys {
		for _, h := range d.byKey[k] {
			delete(d.byHash, h)
		}
		delete(d.byKey, k)
	}
}

// onInvalidations is rueidis's OnInvalidations hook.
func (d *decoded) onInvalidations(ms []rueidis.RedisMessage) {
	if ms == nil {
		d.invalidate(nil)
		return
	}
	keys := make([]string, 0, len(ms))
	for i := range ms {
		if k, err := ms[i].ToString(); err == nil {
			keys = append(keys, k)
		}
	}
	d.invalidate(keys)
}

// read sends a read of key through the client-side cache when it is on and
// this store has not just written the key (Redis pushes the invalidation
// of a write after the write's own reply, so a read right after a write
// from the same store could otherwise see the old value). A cached read
// that Redis refuses for want of memory is sent again uncached: rueidis
// sends a cache miss inside MULTI, whose commands Redis refuses when it is
// out of memory, reads included, which failed every verify of the
// database strategy that missed the cache.
// cmd builds the command afresh for each send (rueidis recycles a sent
// one). tracked reports whether the answer came through the cache, which
// leaves Redis tracking the key for this client.
func (s *Store) read(ctx context.Context, key string, cmd func() rueidis.Cacheable) (r rueidis.RedisResult, tracked bool) {
	if s.cacheTTL > 0 && !s.recent.has(key) {
		r = s.client.DoCache(ctx, cmd(), s.cacheTTL)
		if !isOOM(r.Error()) {
			return r, true
		}
	}
	return s.client.Do(ctx, rueidis.Completed(cmd())), false
}

// wrote notes keys this store just changed; see read.
func (s *Store) wrote(keys ...string) {
	if s.recent != nil {
		s.recent.add(keys...)
	}
	if s.dec != nil {
		s.dec.invalidate(keys)
	}
}

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
