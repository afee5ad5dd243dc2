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

// revokeOnTouch is a memstore whose every touch first revokes the
// session: a revocation that lands between the Manager's check and the
// touch of a refresh without rotation (or of a database verify).
type revokeOnTouch struct {
	*memstore.Store
}

func (s *revokeOnTouch) Touch(ctx context.Context, id sessiond.SessionID, last, idle time.Time) error {
	if _, err := s.Revoke(ctx, id, last, sessiond.ReasonAdmin); err != nil {
		return err
	}
	return s.Store.Touch(ctx, id, last, idle)
}

func (s *revokeOnTouch) TouchRecorded(ctx context.Context, id sessiond.SessionID, last, idle time.Time, rec sessiond.ChangeRecords) error {
	if _, err := s.Revoke(ctx, id, last, sessiond.ReasonAdmin); err != nil {
		return err
	}
	return s.Store.TouchRecorded(ctx, id, last, idle, rec)
}

// TestManager_NoRotationRefreshOfRevokedSession: with NoRotation, a
// session revoked between the Manager's check and the touch gets no new
// access token, and no session.refreshed event is stored or recorded,
// whether the store writes the event with the touch or not.
func TestManager_NoRotationRefreshOfRevokedSession(t *testing.T) {
	for _, tc := range sinkCases() {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, sessiond.StrategyHybrid, func(o *sessiond.Options) {
				o.Store = &revokeOnTouch{Store: o.Store.(*memstore.Store)}
				o.Events = tc.sink
				o.NoRotation = true
			})
			ctx := context.Background()
			iss := h.create(t, "hana", sessiond.CreateOptions{})
			h.clock.Advance(time.Minute)
			got, err := h.m.Refresh(ctx, iss.RefreshToken, sessiond.Client{})
			if !errors.Is(err, sessiond.ErrRevoked) || got != nil {
				t.Fatalf("Refresh = %v, %v; want nil, ErrRevoked", got, err)
			}
			s, err := h.store.Get(ctx, iss.Session.ID)
			if err != nil || !s.LastActiveAt.Equal(iss.Session.LastActiveAt) {
				t.Fatalf("Get after a refused refresh = %v, %v; want LastActiveAt %v", s, err, iss.Session.LastActiveAt)
			}
			stored, _, err := h.store.QueryEvents(ctx, sessiond.EventQuery{Type: sessiond.EventSessionRefreshed})
			if err != nil {
				t.Fatal(err)
			}
			recorded := 0
			for _, e := range tc.sink.recorded {
				if e.Type == sessiond.EventSessionRefreshed {
					recorded++
				}
			}
			if len(stored) != 0 || recorded != 0 {
				t.Errorf("a refused refresh left %d stored and %d recorded session.refreshed events; want none", len(stored), recorded)
			}
		})
	}
}

// TestManager_DatabaseVerifyOfRevokedSession: a database-strategy verify
// whose touch finds the session revoked since the check fails with
// ErrRevoked instead of answering for it.
func TestManager_DatabaseVerifyOfRevokedSession(t *testing.T) {
	h := newHarness(t, sessiond.StrategyDatabase, func(o *sessiond.Options) {
		o.Store = &revokeOnTouch{Store: o.Store.(*memstore.Store)}
	})
	ctx := context.Background()
	iss := h.create(t, "hana", sessiond.CreateOptions{})
	h.clock.Advance(2 * time.Minute) // past the touch interval: this verify writes
	if _, err := h.m.Verify(ctx, iss.AccessToken, sessiond.Client{}); !errors.Is(err, sessiond.ErrRevoked) {
		t.Fatalf("Verify = %v; want ErrRevoked", err)
	}
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
