package redisstore

import (
	"hash/maphash"
	"sync"
)

// routeCacheSize bounds the route memo: about 200 bytes an entry, so at
// most about 13 MB.
const routeCacheSize = 1 << 16

const routeShards = 16

// routes remembers index key → value (token hash or session ID → the
// session's tag and ID). An index key is written once, never changed, and
// deleted only with its session, so a remembered route can only be right
// or point at a session that is gone; the session read that follows is the
// truth either way, and a not-found through a remembered route is checked
// again against Redis (see Store.route). It holds no session state, which
// is why it is used whether or not Options.ClientCache is on: it turns a
// repeated Lookup into one round trip.
type routes struct {
	seed   maphash.Seed
	max    int // per shard
	shards [routeShards]routeShard
}

type routeShard struct {
	mu sync.RWMutex
	m  map[string]string
}

func newRoutes(size int) *routes {
	r := &routes{seed: maphash.MakeSeed(), max: max(1, size/routeShards)}
	for i := range r.shards {
		r.shards[i].m = make(map[string]string)
	}
	return r
}

func (r *routes) shard(key string) *routeShard {
	return &r.shards[maphash.String(r.seed, key)%routeShards]
}

func (r *routes) get(key string) (string, bool) {
	sh := r.shard(key)
	sh.mu.RLock()
	v, ok := sh.m[key]
	sh.mu.RUnlock()
	return v, ok
}

func (r *routes) put(key, value string) {
	sh := r.shard(key)
	sh.mu.Lock()
	if len(sh.m) >= r.max {
		// Drop an arbitrary eighth: map order is random, and a rare bulk
		// eviction is cheaper than LRU bookkeeping on every hit.
		n := max(1, r.max/8)
		for k := range sh.m {
			delete(sh.m, k)
			if n--; n == 0 {
				break
			}
		}
	}
	sh.m[key] = value
	sh.mu.Unlock()
}

func (r *routes) forget(key string) {
	sh := r.shard(key)
	sh.mu.Lock()
	delete(sh.m, key)
	sh.mu.Unlock()
}
