package sessiond

import (
	"crypto/rand"
	"testing"
	"time"
)

func grantToken(t *testing.T, expires time.Time) Token {
	t.Helper()
	var h TokenHash
	if _, err := rand.Read(h[:]); err != nil {
		t.Fatal(err)
	}
	return Token{Hash: h, Kind: KindRefresh, ExpiresAt: expires}
}

func TestGrantCache(t *testing.T) {
	now := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	s := &Session{ID: "s1", Subject: "ines", Claims: []byte(`{"role":"admin"}`)}

	t.Run("take returns the entry once", func(t *testing.T) {
		c := newGrantCache(64, time.Minute)
		tok := grantToken(t, now.Add(time.Hour))
		c.keep(s, []Token{tok, {Hash: TokenHash{1}, Kind: KindAccess}}, now)
		if n := c.len(); n != 1 {
			t.Fatalf("len = %d; want 1 (refresh tokens only)", n)
		}
		e, ok := c.take(tok.Hash, now.Add(59*time.Second))
		if !ok || e.session.ID != "s1" || !e.expires.Equal(tok.ExpiresAt) {
			t.Fatalf("take = %+v, %v; want s1's entry", e, ok)
		}
		if _, ok := c.take(tok.Hash, now); ok {
			t.Error("a second take found the entry again")
		}
	})
	t.Run("an entry is not trusted past the lifetime", func(t *testing.T) {
		c := newGrantCache(64, time.Minute)
		tok := grantToken(t, now.Add(time.Hour))
		c.put(tok, s, now)
		if _, ok := c.take(tok.Hash, now.Add(time.Minute)); ok {
			t.Error("take at the end of the lifetime found the entry")
		}
		if n := c.len(); n != 0 {
			t.Errorf("len = %d after take; want 0", n)
		}
	})
	t.Run("the entry keeps its own claims", func(t *testing.T) {
		c := newGrantCache(64, time.Minute)
		tok := grantToken(t, now.Add(time.Hour))
		mine := *s
		mine.Claims = append([]byte(nil), s.Claims...)
		c.put(tok, &mine, now)
		mine.Claims[2] = 'X'
		e, _ := c.take(tok.Hash, now)
		if string(e.session.Claims) != `{"role":"admin"}` {
			t.Errorf("claims = %s; the caller's change reached the cache", e.session.Claims)
		}
	})
	t.Run("size is bounded", func(t *testing.T) {
		c := newGrantCache(cacheShards*8, time.Minute)
		for range 10_000 {
			c.put(grantToken(t, now.Add(time.Hour)), s, now)
		}
		if n := c.len(); n > cacheShards*8 || n == 0 {
			t.Errorf("len = %d; want 1..%d", n, cacheShards*8)
		}
	})
	t.Run("prune drops what is past its lifetime", func(t *testing.T) {
		c := newGrantCache(64, time.Minute)
		old, young := grantToken(t, now.Add(time.Hour)), grantToken(t, now.Add(time.Hour))
		c.put(old, s, now)
		c.put(young, s, now.Add(30*time.Second))
		c.prune(now.Add(time.Minute))
		if n := c.len(); n != 1 {
			t.Fatalf("len = %d after prune; want 1", n)
		}
		if _, ok := c.take(young.Hash, now.Add(time.Minute)); !ok {
			t.Error("prune dropped the young entry")
		}
	})
	t.Run("nil cache keeps nothing", func(t *testing.T) {
		var c *grantCache
		c.keep(s, []Token{grantToken(t, now)}, now) // must not panic
	})
}
