package verifier

import (
	"fmt"
	"testing"
)

// A token whose signature was checked before a purge (its key retired by
// then) must not be cached after it: a cache hit skips the signature.
func TestCache_PutAfterPurgeIsDropped(t *testing.T) {
	c := newCache(16)
	gen := c.generation() // the verify starts
	c.purge()             // key_retired arrives meanwhile
	c.put("tok", Claims{SessionID: "s1"}, gen)
	if _, ok := c.get("tok"); ok {
		t.Fatal("a token checked before the purge was cached after it")
	}
	c.put("tok", Claims{SessionID: "s1"}, c.generation())
	if _, ok := c.get("tok"); !ok {
		t.Fatal("a token checked after the purge was not cached")
	}
}

// A cache smaller than eight entries still evicts: it never grows past
// its size.
func TestCache_SmallSizeStaysBounded(t *testing.T) {
	for size := 1; size <= 8; size++ {
		c := newCache(size)
		for i := range 100 {
			c.put(fmt.Sprint(i), Claims{}, c.generation())
		}
		if n := len(c.m); n > size {
			t.Errorf("cache of size %d holds %d entries", size, n)
		}
	}
}
