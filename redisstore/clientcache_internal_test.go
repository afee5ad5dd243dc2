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
	d.put(gen, h1, "k1", tok, s, t0)
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
	d.put(stale, h2, "k2", tok, s, t0)
	if _, _, ok := d.get(h2, t0); ok {
		t.Error("a value read before an invalidation was stored")
	}

	d.invalidate([]string{"k1"})
	if _, _, ok := d.get(h1, t0); ok {
		t.Error("invalidating the session key kept its token")
	}

	d.put(d.gen.Load(), h1, "k1", tok, s, t0)
	d.put(d.gen.Load(), h2, "k2", tok, s, t0)
	d.onInvalidations(nil) // flush, or rueidis dropping a connection
	for _, h := range []sessiond.TokenHash{h1, h2} {
		if _, _, ok := d.get(h, t0); ok {
			t.Error("a nil invalidation kept an entry")
		}
	}
	d.put(d.gen.Load(), h2, "k2", tok, s, t0)
	d.onInvalidations([]rueidis.RedisMessage{})
	if _, _, ok := d.get(h2, t0); !ok {
		t.Error("an empty invalidation list dropped an unrelated entry")
	}
}
