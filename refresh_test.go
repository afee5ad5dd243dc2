package sessiond_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/memstore"
)

// revokeOnSwap is a store that revokes the session just before each swap:
// a revocation landing between the Manager's check of the session and its
// SwapRefresh, which no real timing can be made to hit reliably.
type revokeOnSwap struct {
	*memstore.Store
}

func (s *revokeOnSwap) SwapRefresh(ctx context.Context, sw sessiond.RefreshSwap) error {
	if _, err := s.Revoke(ctx, sw.Next.SessionID, sw.Now, sessiond.ReasonAdmin); err != nil {
		return err
	}
	return s.Store.SwapRefresh(ctx, sw)
}

// TestManager_RefreshOfRevokedSession: a refresh of a revoked session
// fails with ErrRevoked and leaves its refresh token as it was, whether the
// revocation came before the Manager's check or between that check and the
// swap; the caller (and the HTTP API's error table) cannot tell them apart.
func TestManager_RefreshOfRevokedSession(t *testing.T) {
	for _, tc := range []struct {
		name string
		// beforeCheck revokes before the refresh; otherwise the store
		// revokes inside it, just before the swap.
		beforeCheck bool
	}{
		{"RevokedBeforeCheck", true},
		{"RevokedBetweenCheckAndSwap", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, sessiond.StrategyHybrid, func(o *sessiond.Options) {
				if !tc.beforeCheck {
					o.Store = &revokeOnSwap{Store: o.Store.(*memstore.Store)}
				}
			})
			ctx := context.Background()
			iss := h.create(t, "hana", sessiond.CreateOptions{})
			h.clock.Advance(time.Minute)
			if tc.beforeCheck {
				if _, err := h.store.Revoke(ctx, iss.Session.ID, h.clock.Now(), sessiond.ReasonAdmin); err != nil {
					t.Fatal(err)
				}
			}

			got, err := h.m.Refresh(ctx, iss.RefreshToken, sessiond.Client{})
			if !errors.Is(err, sessiond.ErrRevoked) || got != nil {
				t.Fatalf("Refresh = %v, %v; want nil, ErrRevoked", got, err)
			}
			// The HTTP API's table takes the first match: these come
			// before ErrRevoked there and would change the answer.
			for _, other := range []error{sessiond.ErrInvalidToken, sessiond.ErrExpired, sessiond.ErrStoreUnavailable, sessiond.ErrRateLimited} {
				if errors.Is(err, other) {
					t.Errorf("Refresh error %v also matches %v; want ErrRevoked alone", err, other)
				}
			}
			tok, s, err := h.store.Lookup(ctx, sessiond.HashToken(iss.RefreshToken))
			if err != nil {
				t.Fatalf("Lookup(refresh token) = %v", err)
			}
			if !tok.RetiredAt.IsZero() {
				t.Errorf("refresh token retired at %v by a refused refresh; want it current", tok.RetiredAt)
			}
			if !s.LastActiveAt.Equal(iss.Session.LastActiveAt) {
				t.Errorf("LastActiveAt = %v after a refused refresh; want %v", s.LastActiveAt, iss.Session.LastActiveAt)
			}
			if n := h.events.Count(sessiond.EventSessionRefreshed); n != 0 {
				t.Errorf("%d session.refreshed events for a refused refresh; want 0", n)
			}
		})
	}
}
