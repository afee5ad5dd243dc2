package sessiond

import "sync"

// cacheShards is how many locked parts an in-process cache has.
const cacheShards = 16

// shardedMap is a bounded map in cacheShards locked parts, for the
// in-process caches (verifyCache, grantCache). The caller picks the part
// from a hash it already has. When a part is full, an arbitrary eighth of
// it goes: map order is random, and a rare bulk eviction is cheaper than
// LRU bookkeeping on every hit, since a miss only costs the work the cache
// saves.
type shardedMap[K comparable, V any] struct {
	max    int // per part
	shards [cacheShards]mapShard[K, V]
}

type mapShard[K comparable, V any] struct {
	mu sync.RWMutex
	m  map[K]V
}

// init readies c to hold about size entries.
func (c *shardedMap[K, V]) init(size int) {
	c.max = max(1, size/cacheShards)
	for i := range c.shards {
		c.shards[i].m = make(map[K]V)
	}
}

func (c *shardedMap[K, V]) part(hash uint64) *mapShard[K, V] { return &c.shards[hash%cacheShards] }

func (c *shardedMap[K, V]) get(hash uint64, k K) (V, bool) {
	s := c.part(hash)
	s.mu.RLock()
	v, ok := s.m[k]
	s.mu.RUnlock()
	return v, ok
}

// take removes k's entry and returns it.
func (c *shardedMap[K, V]) take(hash uint64, k K) (V, bool) {
	s := c.part(hash)
	s.mu.Lock()
	v, ok := s.m[k]
	if ok {
		delete(s.m, k)
	}
	s.mu.Unlock()
	return v, ok
}

func (c *shardedMap[K, V]) put(hash uint64, k K, v V) {
	s := c.part(hash)
	s.mu.Lock()
	if len(s.m) >= c.max {
		n := c.max / 8
		for old := range s.m {
			delete(s.m, old)
			if n--; n <= 0 {
				break
			}
		}
	}
	s.m[k] = v
	s.mu.Unlock()
}

// deleteIf drops every entry for which drop is true.
func (c *shardedMap[K, V]) deleteIf(drop func(V) bool) {
	for i := range c.shards {
		s := &c.shards[i]
		s.mu.Lock()
		for k, v := range s.m {
			if drop(v) {
				delete(s.m, k)
			}
		}
		s.mu.Unlock()
	}
}

func (c *shardedMap[K, V]) clear() {
	for i := range c.shards {
		s := &c.shards[i]
		s.mu.Lock()
		clear(s.m)
		s.mu.Unlock()
	}
}

func (c *shardedMap[K, V]) len() int {
	n := 0
	for i := range c.shards {
		s := &c.shards[i]
		s.mu.RLock()
		n += len(s.m)
		s.mu.RUnlock()
	}
	return n
}
