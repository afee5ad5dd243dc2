package signing_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/jwttoken"
	"github.com/sessiond/sessiond/memstore"
	"github.com/sessiond/sessiond/sessiondtest"
)

// TestKeys_RetiredKey: after the kill switch, the tokens clients still
// hold name a key the ring dropped on purpose. Every node refuses them as
// ErrKeyRetired (which is ErrInvalidToken), not as forged, and without a
// store read each (the unknown-kid reload); a kid never seen is still
// unknown, and so is a dropped one once its tokens have all expired.
func TestKeys_RetiredKey(t *testing.T) {
	ctx := context.Background()
	store := &countingMeta{MetaStore: memstore.New()}
	clock := sessiondtest.NewClock(t0)
	a := open(t, store, clock, nil)
	b := open(t, store, clock, nil)
	ca, cb := codec(t, a), codec(t, b)
	tok, err := ca.Sign(sessiond.KindAccess, claims(t0))
	if err != nil {
		t.Fatal(err)
	}
	if err := a.RetireAll(ctx); err != nil {
		t.Fatal(err)
	}
	if err := b.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	store.reads.Store(0)

	for name, c := range map[string]*jwttoken.Codec{"the node that retired": ca, "another node": cb} {
		_, err := c.Verify(sessiond.KindAccess, tok, t0)
		if !errors.Is(err, sessiond.ErrInvalidToken) || !errors.Is(err, sessiond.ErrKeyRetired) {
			t.Errorf("%s: Verify(token from before RetireAll) = %v; want ErrInvalidToken and ErrKeyRetired", name, err)
		}
	}
	if n := store.reads.Load(); n != 0 {
		t.Errorf("tokens of a dropped key caused %d store reads; want 0", n)
	}

	_, err = cb.Verify(sessiond.KindAccess, forged(strings.Repeat("Q", 22)), t0)
	if !errors.Is(err, sessiond.ErrInvalidToken) || errors.Is(err, sessiond.ErrKeyRetired) {
		t.Errorf("Verify(unknown kid) = %v; want ErrInvalidToken, not ErrKeyRetired", err)
	}
	if n := store.reads.Load(); n != 1 {
		t.Errorf("an unknown kid caused %d store reads; want 1", n)
	}

	clock.Advance(24*time.Hour + jwttoken.MaxLeeway) // the ring's MaxTokenLifetime + MaxLeeway
	_, err = cb.Verify(sessiond.KindAccess, tok, clock.Now())
	if !errors.Is(err, sessiond.ErrInvalidToken) || errors.Is(err, sessiond.ErrKeyRetired) {
		t.Errorf("Verify(token of a dropped key, past its horizon) = %v; want ErrInvalidToken, not ErrKeyRetired", err)
	}
}
