package redisstore

import (
	"bytes"
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
	key  string
	tok  sessiond.Token
	sess sessiond.Session
	at   time.Time
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
	if e == nil || now.Sub(e.at) >= d.ttl {
		return sessiond.Token{}, nil, false
	}
	s := e.sess
	if s.Claims != nil {
		s.Claims = bytes.Clone(s.Claims)
	}
	return e.tok, &s, true
}

// put stores a decoded lookup read while gen was gen0.
func (d *decoded) put(gen0 uint64, h sessiond.TokenHash, key string, tok sessiond.Token, s *sessiond.Session, now time.Time) {
	e := &decodedEntry{key: key, tok: tok, sess: *s, at: now}
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
