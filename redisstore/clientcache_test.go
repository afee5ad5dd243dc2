package redisstore_test

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/redisstore"
)

// TestStore_ClientCache checks the database strategy's cached verify path:
// Lookup is served from the client-side cache, and Redis's invalidation
// pushes make a change by another node visible to it within 2s (in
// practice within milliseconds); changes made through the same store are
// visible at once.
func TestStore_ClientCache(t *testing.T) {
	t.Parallel()
	const bound = 2 * time.Second
	prefix := randomPrefix()
	cached := newStore(t, redisstore.Options{Prefix: prefix, ClientCache: time.Minute})
	other := newStore(t, redisstore.Options{Prefix: prefix})
	ctx := t.Context()

	setup := func(t *testing.T) (*sessiond.Session, sessiond.Token) {
		t.Helper()
		t0 := now()
		s := newSession("alice", t0)
		tok := newToken(sessiond.KindAccess, s.ID, t0)
		if err := other.Create(ctx, s, tok); err != nil {
			t.Fatalf("Create() = %v", err)
		}
		if _, got, err := cached.Lookup(ctx, tok.Hash); err != nil || got.Revoked() {
			t.Fatalf("Lookup() = %v, %v; want a live session", got, err)
		}
		if hit, err := redisstore.LookupCached(ctx, cached, tok.Hash); err != nil || !hit {
			t.Fatalf("after Lookup, LookupCached() = %t, %v; want true (served from the client-side cache)", hit, err)
		}
		return s, tok
	}
	// seen polls cached.Lookup until cond holds, and fails after bound.
	seen := func(t *testing.T, what string, tok sessiond.Token, cond func(*sessiond.Session, error) bool) {
		t.Helper()
		start := time.Now()
		if !eventually(bound, func() bool { _, s, err := cached.Lookup(ctx, tok.Hash); return cond(s, err) }) {
			t.Fatalf("%s through another store not seen by the caching store within %s", what, bound)
		}
		t.Logf("%s seen by the caching store after %s", what, time.Since(start))
	}

	t.Run("RevokeElsewhere", func(t *testing.T) {
		s, tok := setup(t)
		if _, err := other.Revoke(ctx, s.ID, now(), sessiond.ReasonAdmin); err != nil {
			t.Fatalf("Revoke() = %v", err)
		}
		seen(t, "Revoke", tok, func(s *sessiond.Session, err error) bool { return err == nil && s.Revoked() })
	})
	t.Run("TouchElsewhere", func(t *testing.T) {
		s, tok := setup(t)
		last := now().Add(time.Minute)
		if err := other.Touch(ctx, s.ID, last, last.Add(30*time.Minute)); err != nil {
			t.Fatalf("Touch() = %v", err)
		}
		seen(t, "Touch", tok, func(s *sessiond.Session, err error) bool { return err == nil && s.LastActiveAt.Equal(last) })
	})
	t.Run("DeleteElsewhere", func(t *testing.T) {
		s, tok := setup(t)
		if n, err := other.DeleteExpired(ctx, s.IdleExpiresAt.Add(time.Second), 1000); err != nil || n < 1 {
			t.Fatalf("DeleteExpired() = %d, %v; want at least 1", n, err)
		}
		seen(t, "DeleteExpired", tok, func(_ *sessiond.Session, err error) bool { return errors.Is(err, sessiond.ErrNotFound) })
	})
	t.Run("OwnWritesAtOnce", func(t *testing.T) {
		s, tok := setup(t)
		last := now().Add(time.Minute)
		if err := cached.Touch(ctx, s.ID, last, last.Add(30*time.Minute)); err != nil {
			t.Fatalf("Touch() = %v", err)
		}
		if _, got, err := cached.Lookup(ctx, tok.Hash); err != nil || !got.LastActiveAt.Equal(last) {
			t.Errorf("Lookup() right after own Touch = %v, %v; want LastActiveAt %v", got, err, last)
		}
		if _, err := cached.Revoke(ctx, s.ID, now(), sessiond.ReasonLogout); err != nil {
			t.Fatalf("Revoke() = %v", err)
		}
		if _, got, err := cached.Lookup(ctx, tok.Hash); err != nil || !got.Revoked() {
			t.Errorf("Lookup() right after own Revoke = %v, %v; want revoked", got, err)
		}
	})
}

// TestStore_RouteMemoReuse checks that a store's memory of where a
// session ID or token hash lives never hides a session: here another node
// deletes a session and creates one with the same ID and token hash for
// another subject (another slot).
func TestStore_RouteMemoReuse(t *testing.T) {
	t.Parallel()
	for _, cache := range []time.Duration{0, time.Minute} {
		t.Run(fmt.Sprintf("ClientCache=%s", cache), func(t *testing.T) {
			t.Parallel()
			prefix := randomPrefix()
			st := newStore(t, redisstore.Options{Prefix: prefix, ClientCache: cache})
			other := newStore(t, redisstore.Options{Prefix: prefix})
			ctx := t.Context()
			t0 := now()
			old := newSession("alice", t0)
			old.IdleExpiresAt = t0.Add(time.Minute)
			tok := newToken(sessiond.KindRefresh, old.ID, t0)
			if err := st.Create(ctx, old, tok); err != nil {
				t.Fatalf("Create() = %v", err)
			}
			if _, _, err := st.Lookup(ctx, tok.Hash); err != nil {
				t.Fatalf("Lookup() = %v", err)
			}
			if n, err := other.DeleteExpired(ctx, t0.Add(2*time.Minute), 10); n != 1 || err != nil {
				t.Fatalf("DeleteExpired() = %d, %v; want 1, nil", n, err)
			}
			reborn := newSession("bob", t0)
			reborn.ID = old.ID
			tok.ExpiresAt = tok.ExpiresAt.Add(time.Hour)
			if err := other.Create(ctx, reborn, tok); err != nil {
				t.Fatalf("Create(same ID and token, other subject) = %v", err)
			}
			if got, err := st.Get(ctx, old.ID); err != nil || got.Subject != "bob" {
				t.Errorf("Get() = %+v, %v; want bob's session", got, err)
			}
			// With the client cache, the old session's cached entry goes when
			// Redis's invalidation push arrives: poll within the bound.
			if !eventually(2*time.Second, func() bool {
				got, s, err := st.Lookup(ctx, tok.Hash)
				return err == nil && s.Subject == "bob" && got.ExpiresAt.Equal(tok.ExpiresAt)
			}) {
				got, s, err := st.Lookup(ctx, tok.Hash)
				t.Errorf("Lookup() = %+v, %+v, %v; want bob's token and session", got, s, err)
			}
			if err := st.Touch(ctx, old.ID, t0.Add(time.Minute), t0.Add(time.Hour)); err != nil {
				t.Errorf("Touch() = %v", err)
			}
			next := newToken(sessiond.KindRefresh, old.ID, t0.Add(time.Minute))
			if err := st.SwapRefresh(ctx, sessiond.RefreshSwap{Old: tok.Hash, Next: next, Now: t0.Add(time.Minute),
				GraceSince: t0.Add(time.Minute), LastActiveAt: t0.Add(time.Minute), IdleExpiresAt: t0.Add(time.Hour)}); err != nil {
				t.Errorf("SwapRefresh() = %v", err)
			}
			if got, err := st.Revoke(ctx, old.ID, t0.Add(time.Minute), sessiond.ReasonAdmin); err != nil || got.Subject != "bob" {
				t.Errorf("Revoke() = %+v, %v; want bob's session", got, err)
			}
		})
	}
}
