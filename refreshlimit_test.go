package sessiond_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/memstore"
	"github.com/sessiond/sessiond/opaquetoken"
)

var errBroken = errors.New("a broken proof")

// TestManager_RefreshFailures: failed refreshes of one subject are counted
// (in the store, so two Managers share them); past the limit they answer
// ErrRateLimited with the time left in the window, while refreshes that
// succeed and other subjects are never refused.
func TestManager_RefreshFailures(t *testing.T) {
	ctx := context.Background()
	limit := sessiond.FailureLimit{Max: 3, Window: time.Minute}
	withLimit := func(o *sessiond.Options) { o.RefreshFailures = limit }

	// dead returns a refresh token of subject whose session is revoked.
	dead := func(t *testing.T, h *harness, subject string) sessiond.Secret {
		t.Helper()
		iss := h.create(t, subject, sessiond.CreateOptions{})
		if err := h.m.Revoke(ctx, iss.Session.ID, sessiond.ReasonLogout); err != nil {
			t.Fatal(err)
		}
		return iss.RefreshToken
	}
	wantLimited := func(t *testing.T, err error, retry time.Duration) {
		t.Helper()
		rl, ok := errors.AsType[*sessiond.RateLimitError](err)
		if !ok || !errors.Is(err, sessiond.ErrRateLimited) || rl.RetryAfter != retry {
			t.Fatalf("Refresh() over the limit = %v; want a RateLimitError retrying after %v", err, retry)
		}
		if errors.Is(err, sessiond.ErrRevoked) || errors.Is(err, sessiond.ErrRefreshReused) {
			t.Errorf("Refresh() over the limit = %v; it must not tell the reason any more", err)
		}
	}

	for _, strategy := range []sessiond.Strategy{sessiond.StrategyHybrid, sessiond.StrategyJWT} {
		t.Run(string(strategy)+" over the limit", func(t *testing.T) {
			h := newHarness(t, strategy, withLimit)
			var tok sessiond.Secret
			if strategy == sessiond.StrategyJWT {
				// A stateless session cannot be revoked alone: the kill
				// switch for its subject ends it.
				tok = h.create(t, "alice", sessiond.CreateOptions{}).RefreshToken
				if _, err := h.m.RevokeMatching(ctx, sessiond.RevokeFilter{Subjects: []string{"alice"}}, sessiond.ReasonIncident, false); err != nil {
					t.Fatal(err)
				}
				h.clock.Advance(time.Second) // logins after it are live
			} else {
				tok = dead(t, h, "alice")
			}
			for i := range limit.Max {
				if _, err := h.m.Refresh(ctx, tok, sessiond.Client{}); !errors.Is(err, sessiond.ErrRevoked) {
					t.Fatalf("failed refresh #%d = %v; want ErrRevoked (under the limit)", i+1, err)
				}
			}
			h.clock.Advance(1500 * time.Millisecond) // Retry-After rounds up to whole seconds
			_, err := h.m.Refresh(ctx, tok, sessiond.Client{})
			wantLimited(t, err, 59*time.Second)

			// A refresh that succeeds is never refused, for the same
			// subject either, and others are not counted with alice.
			live := h.create(t, "alice", sessiond.CreateOptions{})
			if _, err := h.m.Refresh(ctx, live.RefreshToken, sessiond.Client{}); err != nil {
				t.Errorf("a good refresh of a subject over the limit = %v; want it to succeed", err)
			}
			bob := h.create(t, "bob", sessiond.CreateOptions{})
			if _, err := h.m.Refresh(ctx, bob.RefreshToken, sessiond.Client{}); err != nil {
				t.Errorf("another subject's refresh = %v; want it to succeed", err)
			}

			// The next window starts afresh.
			h.clock.Advance(time.Minute)
			if _, err := h.m.Refresh(ctx, tok, sessiond.Client{}); !errors.Is(err, sessiond.ErrRevoked) {
				t.Errorf("failed refresh in the next window = %v; want ErrRevoked", err)
			}
		})
	}

	t.Run("tokens that name no subject are not counted", func(t *testing.T) {
		h := newHarness(t, sessiond.StrategyHybrid, withLimit)
		bogus := []sessiond.Secret{"garbage", "sdr_" + "0123456789abcdefghijklmnopqrstuvwxyzABCDEFG"}
		for range 3 * limit.Max {
			for _, tok := range bogus {
				if _, err := h.m.Refresh(ctx, tok, sessiond.Client{}); !errors.Is(err, sessiond.ErrInvalidToken) {
					t.Fatalf("Refresh(%q) = %v; want ErrInvalidToken every time", tok, err)
				}
			}
		}
	})

	// A check's refusal counts, unless it is a challenge or the key
	// holder's clock (a DPoP proof by the bound key refused for its iat
	// alone): a phone with its clock off, retrying, must not use up the
	// limit its user's other devices share. The clock's refusals are
	// bounded per session instead (ownBound): a thief holding a stolen
	// refresh token and an old proof of the session's key, whose refusals
	// look the same, meets the limit all the same, on that session alone.
	for _, tc := range []struct {
		name     string
		err      error
		counted  bool // against the subject: the tablet's refusals too
		ownBound bool // against the phone's session alone
	}{
		{"a refused proof", errors.New("dpop: invalid proof: proof key does not match the bound key"), true, false},
		{"the client's clock", fmt.Errorf("dpop: invalid proof: iat outside the accepted window: %w", sessiond.ErrClockSkew), false, true},
		{"a challenge", fmt.Errorf("dpop: use_dpop_nonce: %w", sessiond.ErrChallenge), false, false},
		// pgstore's lock timeout or lost serialization in the DPoP replay
		// cache: the server's failure (a 503), not the client's.
		{"the replay cache's store giving up", fmt.Errorf("dpop: replay cache: pgstore: remember once: transaction lost a race, retry: %w", sessiond.ErrConflict), false, false},
	} {
		t.Run("check refusing with "+tc.name, func(t *testing.T) {
			h := newHarness(t, sessiond.StrategyHybrid, withLimit)
			phone, tablet := h.create(t, "erin", sessiond.CreateOptions{}), h.create(t, "erin", sessiond.CreateOptions{})
			refuse := func(*sessiond.Session) error { return tc.err }
			for i := range 2 * limit.Max {
				_, err := h.m.RefreshChecked(ctx, phone.RefreshToken, sessiond.Client{}, refuse)
				want := (tc.counted || tc.ownBound) && i >= limit.Max
				if limited := errors.Is(err, sessiond.ErrRateLimited); limited != want || !limited && !errors.Is(err, tc.err) {
					t.Fatalf("refused refresh #%d = %v; want %v, rate limited: %v", i+1, err, tc.err, want)
				}
			}
			// The tablet's refusals: its own reason, or 429 when the
			// phone's counted.
			_, err := h.m.RefreshChecked(ctx, tablet.RefreshToken, sessiond.Client{}, func(*sessiond.Session) error { return errBroken })
			if errors.Is(err, sessiond.ErrRateLimited) != tc.counted {
				t.Errorf("the tablet's refused refresh after the phone's = %v; want rate limited: %v", err, tc.counted)
			}
			if tc.ownBound {
				// The phone's bound is not the tablet's: its own clock
				// refusal is told its reason.
				if _, err := h.m.RefreshChecked(ctx, tablet.RefreshToken, sessiond.Client{}, refuse); !errors.Is(err, tc.err) || errors.Is(err, sessiond.ErrRateLimited) {
					t.Errorf("the tablet's refusal for its clock after the phone's = %v; want %v, not rate limited", err, tc.err)
				}
			}
			if _, err := h.m.RefreshChecked(ctx, tablet.RefreshToken, sessiond.Client{}, func(*sessiond.Session) error { return nil }); err != nil {
				t.Errorf("the tablet's good refresh = %v; want it to succeed", err)
			}
		})
	}

	// The per-session bound of the clock's refusals: past it, the time
	// left in its window, and the next window starts afresh.
	t.Run("the client's clock past its session's bound", func(t *testing.T) {
		h := newHarness(t, sessiond.StrategyHybrid, withLimit)
		phone := h.create(t, "gina", sessiond.CreateOptions{})
		skew := func(*sessiond.Session) error {
			return fmt.Errorf("dpop: invalid proof: iat outside the accepted window: %w", sessiond.ErrClockSkew)
		}
		for i := range limit.Max {
			if _, err := h.m.RefreshChecked(ctx, phone.RefreshToken, sessiond.Client{}, skew); !errors.Is(err, sessiond.ErrClockSkew) {
				t.Fatalf("refusal #%d for the clock = %v; want ErrClockSkew (under the bound)", i+1, err)
			}
		}
		h.clock.Advance(1500 * time.Millisecond)
		_, err := h.m.RefreshChecked(ctx, phone.RefreshToken, sessiond.Client{}, skew)
		wantLimited(t, err, 59*time.Second)
		if errors.Is(err, sessiond.ErrClockSkew) {
			t.Errorf("refusal past the bound = %v; want it not to tell the reason any more", err)
		}
		// A success is never refused.
		next, err := h.m.RefreshChecked(ctx, phone.RefreshToken, sessiond.Client{}, func(*sessiond.Session) error { return nil })
		if err != nil {
			t.Fatalf("a good refresh past the bound = %v; want it to succeed", err)
		}
		// Still bounded after it (a success does not reset the count),
		// and only until the window ends.
		if _, err := h.m.RefreshChecked(ctx, next.RefreshToken, sessiond.Client{}, skew); !errors.Is(err, sessiond.ErrRateLimited) {
			t.Errorf("refusal for the clock after a good refresh, in the window = %v; want ErrRateLimited", err)
		}
		h.clock.Advance(limit.Window)
		if _, err := h.m.RefreshChecked(ctx, next.RefreshToken, sessiond.Client{}, skew); !errors.Is(err, sessiond.ErrClockSkew) || errors.Is(err, sessiond.ErrRateLimited) {
			t.Errorf("refusal for the clock in the next window = %v; want ErrClockSkew, not rate limited", err)
		}
	})

	// A swap the store gave up on (pgstore: a lock timeout, deadlock or
	// lost serialization is ErrConflict) is the server's failure, answered
	// 503: a user whose refreshes meet a busy store must not be locked
	// out of every device once it recovers.
	t.Run("a swap the store gave up on is not counted", func(t *testing.T) {
		h := newHarness(t, sessiond.StrategyHybrid, func(o *sessiond.Options) {
			withLimit(o)
			o.Store = &conflictOnSwap{Store: o.Store.(*memstore.Store)}
		})
		phone, tablet := h.create(t, "frank", sessiond.CreateOptions{}), h.create(t, "frank", sessiond.CreateOptions{})
		for i := range 2 * limit.Max {
			if _, err := h.m.Refresh(ctx, phone.RefreshToken, sessiond.Client{}); !errors.Is(err, sessiond.ErrConflict) || errors.Is(err, sessiond.ErrRateLimited) {
				t.Fatalf("refresh #%d while the store gives up = %v; want ErrConflict, not rate limited", i+1, err)
			}
		}
		h.clock.Advance(time.Second) // the tablet's token is not the phone's
		_, err := h.m.RefreshChecked(ctx, tablet.RefreshToken, sessiond.Client{}, func(*sessiond.Session) error { return errBroken })
		if errors.Is(err, sessiond.ErrRateLimited) || !errors.Is(err, errBroken) {
			t.Errorf("the tablet's refused refresh after the phone's = %v; want %v, not rate limited", err, errBroken)
		}
	})

	t.Run("reuse still revokes over the limit", func(t *testing.T) {
		h := newHarness(t, sessiond.StrategyHybrid, withLimit)
		tok := dead(t, h, "carol")
		for range limit.Max {
			h.m.Refresh(ctx, tok, sessiond.Client{})
		}
		victim := h.create(t, "carol", sessiond.CreateOptions{})
		next, err := h.m.Refresh(ctx, victim.RefreshToken, sessiond.Client{})
		if err != nil {
			t.Fatal(err)
		}
		h.clock.Advance(time.Minute / 2) // past the reuse interval, inside the window
		_, err = h.m.Refresh(ctx, victim.RefreshToken, sessiond.Client{})
		wantLimited(t, err, 30*time.Second)
		if _, err := h.m.Verify(ctx, next.AccessToken, sessiond.Client{}); !errors.Is(err, sessiond.ErrRevoked) {
			t.Errorf("the reused token's session after a refused reuse = %v; want it revoked all the same", err)
		}
		if n := h.events.Count(sessiond.EventRefreshReused); n != 1 {
			t.Errorf("%d %s events; want 1", n, sessiond.EventRefreshReused)
		}
	})

	t.Run("two nodes share the count", func(t *testing.T) {
		h := newHarness(t, sessiond.StrategyHybrid, withLimit)
		b, err := sessiond.New(ctx, sessiond.Options{Strategy: sessiond.StrategyHybrid, Store: h.store, Signed: h.codec,
			Opaque: opaquetoken.Codec{}, Clock: h.clock, GCInterval: -1, RefreshFailures: limit})
		if err != nil {
			t.Fatal(err)
		}
		defer b.Close()
		tok := dead(t, h, "dave")
		nodes := []*sessiond.Manager{h.m, b}
		for i := range limit.Max {
			if _, err := nodes[i%2].Refresh(ctx, tok, sessiond.Client{}); !errors.Is(err, sessiond.ErrRevoked) {
				t.Fatalf("failed refresh #%d = %v; want ErrRevoked", i+1, err)
			}
		}
		for i, m := range nodes {
			if _, err := m.Refresh(ctx, tok, sessiond.Client{}); !errors.Is(err, sessiond.ErrRateLimited) {
				t.Errorf("node %d past the shared limit = %v; want ErrRateLimited", i, err)
			}
		}
	})

	t.Run("a store without counters counts in memory", func(t *testing.T) {
		st := struct{ sessiond.Store }{memstore.New()} // the base methods only
		h := newHarness(t, sessiond.StrategyHybrid, func(o *sessiond.Options) { o.Store = st; withLimit(o) })
		tok := dead(t, h, "erin")
		var err error
		for range limit.Max + 1 {
			_, err = h.m.Refresh(ctx, tok, sessiond.Client{})
		}
		if !errors.Is(err, sessiond.ErrRateLimited) {
			t.Errorf("Refresh() past the limit = %v; want ErrRateLimited", err)
		}
	})

	t.Run("options", func(t *testing.T) {
		for _, bad := range []sessiond.FailureLimit{{Max: -1}, {Max: 1}, {Max: 1, Window: -time.Second}} {
			_, err := sessiond.New(ctx, sessiond.Options{Strategy: sessiond.StrategyHybrid, Store: memstore.New(),
				Signed: newHarness(t, sessiond.StrategyHybrid, nil).codec, RefreshFailures: bad})
			if !errors.Is(err, sessiond.ErrInvalidArgument) {
				t.Errorf("New(RefreshFailures %+v) = %v; want ErrInvalidArgument", bad, err)
			}
		}
	})
}

// conflictOnSwap is a memstore whose every refresh swap fails as pgstore's
// does when a lock wait times out or a serialization is lost.
type conflictOnSwap struct {
	*memstore.Store
}

func (s *conflictOnSwap) SwapRefresh(context.Context, sessiond.RefreshSwap) error {
	return fmt.Errorf("pgstore: swap refresh token: transaction lost a race, retry: %w", sessiond.ErrConflict)
}
