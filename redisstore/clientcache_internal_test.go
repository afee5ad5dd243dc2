package redisstore

import (
	"testing"
	"time"

	"github.com/redis/rueidis"

	"github.com/sessiond/sessiond"
)

func TestDecoded(t *testing.T) {
	d := newDecoded(time.Minute)
	t0 := time.Now()
	h1, h2 := sessiond.TokenHash{1}, sessiond.TokenHash{2}
	s := &sessiond.Session{ID: "s1", Subject: "alice", Claims: []byte(`{"a":1}`)}
	tok := sessiond.Token{Hash: h1, SessionID: "s1"}

	gen := d.gen.Load()
	d.put(gen, h1, "k1", tok, s, t0, time.Time{})
	got, gs, ok := d.get(h1, t0.Add(time.Second))
	if !ok || got.Hash != h1 || gs.Subject != "alice" {
		t.Fatalf("get after put = %v, %+v, %v", got, gs, ok)
	}
	gs.Claims[0] = 'X' // a copy: the cache must not change
	if _, again, _ := d.get(h1, t0); string(again.Claims) != `{"a":1}` {
		t.Errorf("get returned shared claims")
	}
	if _, _, ok := d.get(h1, t0.Add(time.Minute)); ok {
		t.Error("an entry outlived the TTL")
	}

	// A read that an invalidation overtook is not kept.
	stale := d.gen.Load()
	d.invalidate([]string{"unrelated"})
	d.put(stale, h2, "k2", tok, s, t0, time.Time{})
	if _, _, ok := d.get(h2, t0); ok {
		t.Error("a value read before an invalidation was stored")
	}

	d.invalidate([]string{"k1"})
	if _, _, ok := d.get(h1, t0); ok {
		t.Error("invalidating the session key kept its token")
	}

	d.put(d.gen.Load(), h1, "k1", tok, s, t0, time.Time{})
	d.put(d.gen.Load(), h2, "k2", tok, s, t0, time.Time{})
	d.onInvalidations(nil) // flush, or rueidis dropping a connection
	for _, h := range []sessiond.TokenHash{h1, h2} {
		if _, _, ok := d.get(h, t0); ok {
			t.Error("a nil invalidation kept an entry")
		}
	}
	d.put(d.gen.Load(), h2, "k2", tok, s, t0, time.Time{})
	d.onInvalidations([]rueidis.RedisMessage{})
	if _, _, ok := d.get(h2, t0); !ok {
		t.Error("an empty invalidation list dropped an unrelated entry")
	}
}

// A reply that sat in rueidis's client-side cache is decoded no longer
// than that entry lives: after a lost push, the staleness stays within
// ClientCache, not ClientCache twice over.
func TestDecoded_NoLongerThanTheClientCacheEntry(t *testing.T) {
	d := newDecoded(time.Minute)
	t0 := time.Now()
	h := sessiond.TokenHash{3}
	s := &sessiond.Session{ID: "s3", Subject: "carol"}
	d.put(d.gen.Load(), h, "k3", sessiond.Token{Hash: h, SessionID: "s3"}, s, t0, t0.Add(10*time.Second))
	if _, _, ok := d.get(h, t0.Add(9*time.Second)); !ok {
		t.Fatal("the entry was dropped before its client-side cache entry expired")
	}
	if _, _, ok := d.get(h, t0.Add(10*time.Second)); ok {
		t.Error("the decoded entry outlived the client-side cache entry it came from")
	}
	// A client-side entry longer than the decoded TTL does not extend it.
	d.put(d.gen.Load(), h, "k3", sessiond.Token{Hash: h, SessionID: "s3"}, s, t0, t0.Add(time.Hour))
	if _, _, ok := d.get(h, t0.Add(time.Minute)); ok {
		t.Error("the decoded entry outlived its own TTL")
	}
}
