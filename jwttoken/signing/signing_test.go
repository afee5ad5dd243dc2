package signing_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/jwttoken"
	"github.com/sessiond/sessiond/jwttoken/signing"
	"github.com/sessiond/sessiond/memstore"
	"github.com/sessiond/sessiond/sessiondtest"
)

var t0 = time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC)

func open(t *testing.T, meta sessiond.MetaStore, clock sessiond.Clock, onChange func(bool)) *signing.Keys {
	t.Helper()
	k, err := signing.Open(context.Background(), meta, signing.Options{
		MaxTokenLifetime: 24 * time.Hour, RotateEvery: 30 * 24 * time.Hour, Clock: clock, OnChange: onChange,
	})
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func codec(t *testing.T, k *signing.Keys) *jwttoken.Codec {
	c, err := jwttoken.New(k.Ring(), jwttoken.Options{Issuer: "i", Audience: "a"})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func claims(now time.Time) sessiond.TokenClaims {
	return sessiond.TokenClaims{SessionID: sessiond.NewSessionID(), Subject: "u", Strategy: sessiond.StrategyHybrid,
		IssuedAt: now, ExpiresAt: now.Add(time.Hour), AuthTime: now, SessionExpiresAt: now.Add(8 * time.Hour)}
}

// TestKeys_TwoNodes: two nodes share one ring through the store; a rotation
// and a retire-all on one reach the other on its next sync.
func TestKeys_TwoNodes(t *testing.T) {
	ctx := context.Background()
	store := memstore.New()
	clock := sessiondtest.NewClock(t0)
	var removedSeen bool
	a := open(t, store, clock, nil)
	b := open(t, store, clock, func(removed bool) { removedSeen = removedSeen || removed })
	ca, cb := codec(t, a), codec(t, b)

	tok, err := ca.Sign(sessiond.KindAccess, claims(t0))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cb.Verify(sessiond.KindAccess, tok, t0); err != nil {
		t.Fatalf("node B rejects node A's token: %v", err)
	}

	if err := a.Rotate(ctx); err != nil {
		t.Fatal(err)
	}
	next := a.Ring().Keys()[0]
	if next.Current || !next.ActivatesAt.Equal(t0.Add(signing.DefaultPublishFor)) {
		t.Fatalf("after Rotate the first key is %+v; want the next key, signing from t0+%s", next, signing.DefaultPublishFor)
	}
	if err := b.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if jwks, _ := b.Ring().JWKS(); !strings.Contains(string(jwks), next.ID) {
		t.Error("B does not publish the next key after syncing")
	}
	later := t0.Add(signing.DefaultPublishFor)
	clock.Advance(signing.DefaultPublishFor)
	fresh, _ := ca.Sign(sessiond.KindAccess, claims(later))
	for name, tk := range map[string]sessiond.Secret{"old": tok, "new": fresh} {
		if _, err := cb.Verify(sessiond.KindAccess, tk, later); err != nil {
			t.Errorf("B after sync, %s key: %v", name, err)
		}
	}

	if err := b.RetireAll(ctx); err != nil {
		t.Fatal(err)
	}
	if err := a.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := ca.Verify(sessiond.KindAccess, fresh, later); !errors.Is(err, sessiond.ErrInvalidToken) {
		t.Errorf("A still verifies after B's RetireAll: %v", err)
	}
	if !removedSeen {
		t.Error("B's RetireAll did not report a removed key to OnChange (its verify cache would keep old tokens)")
	}
}

func TestKeys_RetireAllReportsRemoval(t *testing.T) {
	store := memstore.New()
	clock := sessiondtest.NewClock(t0)
	var removed []bool
	a := open(t, store, clock, func(r bool) { removed = append(removed, r) })
	if err := a.Rotate(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := a.RetireAll(context.Background()); err != nil {
		t.Fatal(err)
	}
	if len(removed) != 2 || removed[0] || !removed[1] {
		t.Fatalf("OnChange calls = %v; want [false true]", removed)
	}
}

func TestKeys_MaintainRotatesAndPrunes(t *testing.T) {
	store := memstore.New()
	clock := sessiondtest.NewClock(t0)
	var rotatedTo []string
	k, err := signing.Open(context.Background(), store, signing.Options{
		MaxTokenLifetime: 24 * time.Hour, RotateEvery: 30 * 24 * time.Hour, Clock: clock,
		OnRotate: func(kid string) { rotatedTo = append(rotatedTo, kid) },
	})
	if err != nil {
		t.Fatal(err)
	}
	first := k.Ring().Keys()[0].ID
	clock.Advance(29 * 24 * time.Hour)
	if err := k.Maintain(context.Background()); err != nil || k.Ring().Keys()[0].ID != first {
		t.Fatalf("Maintain before the interval rotated (err %v)", err)
	}
	clock.Advance(24 * time.Hour)
	if err := k.Maintain(context.Background()); err != nil {
		t.Fatal(err)
	}
	keys := k.Ring().Keys()
	if len(keys) != 2 || keys[0].ID == first || keys[0].ActivatesAt.IsZero() || keys[1].ID != first || !keys[1].Current {
		t.Fatalf("after the interval: keys %+v; want a next key scheduled before the signer", keys)
	}
	if len(rotatedTo) != 1 || rotatedTo[0] != keys[0].ID {
		t.Errorf("OnRotate calls = %v; want one, with the next key %s", rotatedTo, keys[0].ID)
	}
	clock.Advance(signing.DefaultPublishFor)
	if err := k.Maintain(context.Background()); err != nil {
		t.Fatal(err)
	}
	keys = k.Ring().Keys()
	if len(keys) != 2 || !keys[0].Current || keys[1].ID != first || keys[1].RetiredAt.IsZero() {
		t.Fatalf("after the publish period: keys %+v; want the new signer and the old one retired", keys)
	}
	clock.Advance(25 * time.Hour) // past MaxTokenLifetime + leeway
	if err := k.Maintain(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := len(k.Ring().Keys()); n != 1 {
		t.Errorf("after the retired key's tokens expired: %d keys; want 1", n)
	}
}

// TestKeys_ConcurrentOpen: nodes starting at once agree on one ring.
func TestKeys_ConcurrentOpen(t *testing.T) {
	store := memstore.New()
	clock := sessiondtest.NewClock(t0)
	var wg sync.WaitGroup
	kids := make([]string, 8)
	for i := range kids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			k, err := signing.Open(context.Background(), store, signing.Options{MaxTokenLifetime: time.Hour, Clock: clock})
			if err != nil {
				t.Error(err)
				return
			}
			kids[i] = k.Ring().Keys()[0].ID
		}()
	}
	wg.Wait()
	for _, kid := range kids {
		if kid != kids[0] {
			t.Fatalf("nodes disagree on the signing key: %v", kids)
		}
	}
}
