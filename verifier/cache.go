package verifier

import "sync"

// cache holds the claims of tokens whose signature and claims were
// checked, so verifying the same token again costs map lookups. Revocation
// and expiry are checked on every hit. A nil cache holds nothing.
type cache struct {
	mu  sync.RWMutex
	max int
	m   map[string]Claims
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

func (c *cache) put(tok string, cl Claims) {
	if c == nil {
		return
	}
	c.mu.Lock()
	if len(c.m) >= c.max {
		// Make room for an eighth: map order is random enough to spread
		// eviction, and a miss only costs a signature check.
		n := c.max / 8
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
	clear(c.m)
	c.mu.Unlock()
}
