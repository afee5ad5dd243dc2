package verifier

import "sync"

// cache holds the claims of tokens whose signature and claims were
// checked, so verifying the same token again costs map lookups. Revocation
// and expiry are checked on every hit. A nil cache holds nothing.
type cache struct {
	mu  sync.RWMutex
	max int
	m   map[string]Claims
	// gen counts purges: a token whose signature was checked before a
	// purge (its key retired meanwhile) is not cached after it.
	gen uint64
}

func newCache(max int) *cache { return &cache{max: max, m: make(map[string]Claims, min(max, 1024))} }

func (c *cache) get(tok string) (Claims, bool) {
	if c == nil {
		return Claims{}, false
	}
	c.mu.RLock()
	cl, ok := c.m[tok]
	c.mu.RUnlock()
	return cl, ok
}

// generation is read before a signature is checked and handed to put.
func (c *cache) generation() uint64 {
	if c == nil {
		return 0
	}
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.gen
}

// put caches a token checked in generation gen, unless a purge came since.
func (c *cache) put(tok string, cl Claims, gen uint64) {
	if c == nil {
		return
	}
	c.mu.Lock()
	if c.gen != gen {
		c.mu.Unlock()
		return
	}
	if len(c.m) >= c.max {
		// Make room for an eighth (at least one): map order is random
		// enough to spread eviction, and a miss only costs a signature
		// check.
		n := max(c.max/8, 1)
		for k := range c.m {
			if n <= 0 {
				break
			}
			delete(c.m, k)
			n--
		}
	}
	c.m[tok] = cl
	c.mu.Unlock()
}

func (c *cache) remove(tok string) {
	if c == nil {
		return
	}
	c.mu.Lock()
	delete(c.m, tok)
	c.mu.Unlock()
}

func (c *cache) purge() {
	if c == nil {
		return
	}
	c.mu.Lock()
	c.gen++
	clear(c.m)
	c.mu.Unlock()
}
