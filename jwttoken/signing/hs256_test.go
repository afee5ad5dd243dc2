package signing_test

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/jwttoken"
	"github.com/sessiond/sessiond/jwttoken/signing"
	"github.com/sessiond/sessiond/sessiondtest"
)

var (
	secretA = bytes.Repeat([]byte("a"), 32)
	secretB = bytes.Repeat([]byte("b"), 32)
)

func openHS256(ctx context.Context, meta sessiond.MetaStore, clock sessiond.Clock, secret []byte) (*signing.Keys, error) {
	return signing.Open(ctx, meta, signing.Options{Algorithm: jwttoken.HS256, HMACSecret: secret,
		MaxTokenLifetime: 24 * time.Hour, Clock: clock})
}

// TestKeys_HS256SecretChange (issue 14, defect 3): a node started with a
// changed HS256 secret replaces the stored ring, so tokens made with the
// old secret (and anything forged with it) stop verifying; a restart with
// the same secret, or after a scheduled rotation, changes nothing; a node
// still configured with the replaced secret refuses to start instead of
// switching the cluster back. Each start reopens the store.
func TestKeys_HS256SecretChange(t *testing.T) {
	ctx := context.Background()
	for _, st := range metaStores(t) {
		t.Run(st.name, func(t *testing.T) {
			clock := sessiondtest.NewClock(t0)
			first, err := openHS256(ctx, st.reopen(t), clock, secretA)
			if err != nil {
				t.Fatal(err)
			}
			oldTok, err := codec(t, first).Sign(sessiond.KindAccess, claims(t0))
			if err != nil {
				t.Fatal(err)
			}
			// A scheduled rotation: the signer is no longer secretA itself.
			if err := first.Rotate(ctx); err != nil {
				t.Fatal(err)
			}
			clock.Advance(signing.DefaultPublishFor)
			if err := first.Maintain(ctx); err != nil {
				t.Fatal(err)
			}
			rotated := first.Ring().Keys()[0].ID

			same, err := openHS256(ctx, st.reopen(t), clock, secretA)
			if err != nil {
				t.Fatalf("restart with the same secret: %v", err)
			}
			if got := same.Ring().Keys()[0].ID; got != rotated {
				t.Errorf("restart with the same secret changed the signer %s to %s", rotated, got)
			}
			now := clock.Now()
			if _, err := codec(t, same).Verify(sessiond.KindAccess, oldTok, now); err != nil {
				t.Errorf("restart with the same secret: old token %v", err)
			}

			changed, err := openHS256(ctx, st.reopen(t), clock, secretB)
			if err != nil {
				t.Fatalf("restart with a new secret: %v", err)
			}
			if _, err := codec(t, changed).Verify(sessiond.KindAccess, oldTok, now); !errors.Is(err, sessiond.ErrInvalidToken) {
				t.Errorf("after the secret changed, a token of the old secret: %v; want ErrInvalidToken", err)
			}
			if !changed.Ring().HasHMACSecret(secretB) || changed.Ring().HasHMACSecret(secretA) {
				t.Error("the ring after the change is not made from the configured secret alone")
			}
			newTok, err := codec(t, changed).Sign(sessiond.KindAccess, claims(now))
			if err != nil {
				t.Fatal(err)
			}
			// The running first node adopts the change on its next sync.
			if err := first.Sync(ctx); err != nil {
				t.Fatal(err)
			}
			if _, err := codec(t, first).Verify(sessiond.KindAccess, oldTok, now); !errors.Is(err, sessiond.ErrInvalidToken) {
				t.Errorf("a running node still verifies the old secret's token after syncing: %v", err)
			}
			if _, err := codec(t, first).Verify(sessiond.KindAccess, newTok, now); err != nil {
				t.Errorf("a running node rejects the new secret's token after syncing: %v", err)
			}

			if _, err := openHS256(ctx, st.reopen(t), clock, secretA); !errors.Is(err, signing.ErrSecretSuperseded) {
				t.Errorf("start with the replaced secret = %v; want ErrSecretSuperseded", err)
			}
			again, err := openHS256(ctx, st.reopen(t), clock, secretB)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := codec(t, again).Verify(sessiond.KindAccess, newTok, now); err != nil {
				t.Errorf("restart with the new secret: its token %v", err)
			}
		})
	}
}

// TestKeys_HS256LegacyRing: a ring stored before secrets were
// fingerprinted is kept when it holds the configured secret, and replaced
// when it does not.
func TestKeys_HS256LegacyRing(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name     string
		secret   []byte
		replaced bool
	}{
		{"same secret", secretA, false},
		{"other secret", secretB, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			store := metaStores(t)[0].reopen(t)
			ring, err := jwttoken.NewRing(t0, jwttoken.RingOptions{Algorithm: jwttoken.HS256, HMACSecret: secretA, MaxTokenLifetime: 24 * time.Hour})
			if err != nil {
				t.Fatal(err)
			}
			doc, err := ring.MarshalPrivate() // the version-1 document: the bare ring
			if err != nil {
				t.Fatal(err)
			}
			if _, err := store.PutMeta(ctx, signing.DocName, doc, 0); err != nil {
				t.Fatal(err)
			}
			k, err := openHS256(ctx, store, sessiondtest.NewClock(t0), tc.secret)
			if err != nil {
				t.Fatal(err)
			}
			kept := k.Ring().Keys()[0].ID == ring.Keys()[0].ID
			if kept == tc.replaced {
				t.Errorf("legacy ring kept = %v; want %v", kept, !tc.replaced)
			}
			if !k.Ring().HasHMACSecret(tc.secret) {
				t.Error("the ring does not hold the configured secret")
			}
		})
	}
}
