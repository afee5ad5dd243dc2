package signing_test

import (
	"context"
	"encoding/base64"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/jwttoken/signing"
	"github.com/sessiond/sessiond/memstore"
	"github.com/sessiond/sessiond/sessiondtest"
)

// countingMeta is a real store that counts reads of the key ring.
type countingMeta struct {
	sessiond.MetaStore
	reads atomic.Int64
}

func (c *countingMeta) GetMeta(ctx context.Context, name string) ([]byte, int64, error) {
	if name == signing.DocName {
		c.reads.Add(1)
	}
	return c.MetaStore.GetMeta(ctx, name)
}

// forged is a token whose header names kid (the signature is junk).
func forged(kid string) sessiond.Secret {
	enc := base64.RawURLEncoding.EncodeToString
	return sessiond.Secret(enc([]byte(`{"alg":"EdDSA","kid":"`+kid+`","typ":"at+jwt"}`)) + "." + enc([]byte(`{"sub":"x"}`)) + ".c2ln")
}

// TestKeys_UnknownKidReloads (issue 18, gap 2): node B meets a token from
// a key node A made a moment ago (the kill switch signs with a new key at
// once) and accepts it without waiting for its periodic poll, by
// reloading the ring from the store before rejecting.
func TestKeys_UnknownKidReloads(t *testing.T) {
	ctx := context.Background()
	store := memstore.New()
	clock := sessiondtest.NewClock(t0)
	a := open(t, store, clock, nil)
	b := open(t, store, clock, nil)
	if err := a.RetireAll(ctx); err != nil {
		t.Fatal(err)
	}
	tok, err := codec(t, a).Sign(sessiond.KindAccess, claims(t0))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := codec(t, b).Verify(sessiond.KindAccess, tok, t0); err != nil {
		t.Fatalf("B rejects A's new-key token before its poll: %v", err)
	}
}

// TestKeys_UnknownKidReloadIsBounded: tokens naming made-up kids cause at
// most one store read per ReloadEvery, however many arrive at once, and
// none for a kid that cannot be one of ours.
func TestKeys_UnknownKidReloadIsBounded(t *testing.T) {
	store := &countingMeta{MetaStore: memstore.New()}
	clock := sessiondtest.NewClock(t0)
	const every = 100 * time.Millisecond
	k, err := signing.Open(context.Background(), store, signing.Options{MaxTokenLifetime: 24 * time.Hour, Clock: clock, ReloadEvery: every})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(k.Close)
	c := codec(t, k)
	store.reads.Store(0)

	if _, err := c.Verify(sessiond.KindAccess, forged("not-a-kid-of-ours"), t0); !errors.Is(err, sessiond.ErrInvalidToken) {
		t.Fatalf("Verify = %v; want ErrInvalidToken", err)
	}
	if n := store.reads.Load(); n != 0 {
		t.Errorf("an implausible kid caused %d store reads; want 0", n)
	}

	// The reads begin at least ReloadEvery apart, so over any span there
	// are at most one more than the periods it holds.
	start := time.Now()
	var wg sync.WaitGroup
	for i := range 64 {
		wg.Go(func() {
			for j := range 4 {
				kid := strings.Repeat(string(rune('A'+(i+j)%26)), 22)
				if _, err := c.Verify(sessiond.KindAccess, forged(kid), t0); !errors.Is(err, sessiond.ErrInvalidToken) {
					t.Errorf("Verify = %v; want ErrInvalidToken", err)
				}
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	if n, most := store.reads.Load(), int64(elapsed/every)+1; n > most {
		t.Errorf("256 unknown kids from 64 callers over %v caused %d store reads; want at most %d (one per %v)", elapsed, n, most, every)
	}
}

// TestKeys_UnknownKidFloodKeepsNewKeys: made-up kids that keep the reloads
// at their limit do not make a node refuse a token from a key another node
// just made: that token waits for the next read instead of being refused
// because the last one was too recent.
func TestKeys_UnknownKidFloodKeepsNewKeys(t *testing.T) {
	ctx := context.Background()
	store := memstore.New()
	clock := sessiondtest.NewClock(t0)
	a := open(t, store, clock, nil)
	b, err := signing.Open(ctx, store, signing.Options{MaxTokenLifetime: 24 * time.Hour, Clock: clock, ReloadEvery: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	cb := codec(t, b)
	for i := range 3 {
		// A made-up kid takes the reload B may make now.
		if _, err := cb.Verify(sessiond.KindAccess, forged(strings.Repeat(string(rune('a'+i)), 22)), t0); !errors.Is(err, sessiond.ErrInvalidToken) {
			t.Fatalf("Verify(made-up kid) = %v; want ErrInvalidToken", err)
		}
		if err := a.RetireAll(ctx); err != nil { // signs with a new key at once
			t.Fatal(err)
		}
		tok, err := codec(t, a).Sign(sessiond.KindAccess, claims(t0))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := cb.Verify(sessiond.KindAccess, tok, t0); err != nil {
			t.Fatalf("round %d: B refuses A's new-key token right after a made-up kid's reload: %v", i, err)
		}
	}
}

// panickyMeta is a store whose reads of the key ring panic while set.
type panickyMeta struct {
	sessiond.MetaStore
	panics atomic.Bool
}

func (p *panickyMeta) GetMeta(ctx context.Context, name string) ([]byte, int64, error) {
	if name == signing.DocName && p.panics.Load() {
		panic("store bug")
	}
	return p.MetaStore.GetMeta(ctx, name)
}

// TestKeys_UnknownKidReloadPanics: a read for an unknown kid that panics
// reaches its caller as a panic (the HTTP server recovers it), and leaves
// the reloads working: no fatal unlock of an unlocked mutex, no waiter
// left waiting for a read that will never end.
func TestKeys_UnknownKidReloadPanics(t *testing.T) {
	store := &panickyMeta{MetaStore: memstore.New()}
	k, err := signing.Open(context.Background(), store, signing.Options{MaxTokenLifetime: 24 * time.Hour,
		Clock: sessiondtest.NewClock(t0), ReloadEvery: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(k.Close)
	c := codec(t, k)
	store.panics.Store(true)
	func() {
		defer func() {
			if recover() == nil {
				t.Error("Verify of an unknown kid with a panicking store returned; want its panic")
			}
		}()
		_, _ = c.Verify(sessiond.KindAccess, forged(strings.Repeat("P", 22)), t0)
	}()
	store.panics.Store(false)
	done := make(chan error, 1)
	go func() {
		_, err := c.Verify(sessiond.KindAccess, forged(strings.Repeat("Q", 22)), t0)
		done <- err
	}()
	select {
	case err := <-done:
		if !errors.Is(err, sessiond.ErrInvalidToken) {
			t.Errorf("Verify after the panic = %v; want ErrInvalidToken", err)
		}
	case <-time.After(10 * time.Second): // guards against a hang; measures nothing
		t.Fatal("Verify after a panicking reload never returned: the reloads are stuck")
	}
}
