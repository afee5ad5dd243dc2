package sessiond_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/sessiond/sessiond"
)

// TestManager_SessionExpiredEvent: a token of a session that timed out is
// refused and reported as session.expired, naming the session, its
// subject, the client, the stage and the timeout (idle or absolute), once a
// session a minute; a live or revoked session raises none. In the jwt and
// hybrid strategies the timeout shows at refresh, in database at verify.
func TestManager_SessionExpiredEvent(t *testing.T) {
	// Access 5m, idle 20m, absolute 1h: idle ends 25m after a token
	// strategy's last refresh (docs/lifecycle.md), 20m after database's
	// last verify; the absolute end comes first for a session kept busy.
	life := sessiond.Lifetimes{Access: 5 * time.Minute, Refresh: 24 * time.Hour, Idle: 20 * time.Minute, Absolute: time.Hour}
	client := sessiond.Client{IP: "198.51.100.7", UserAgent: "returning browser"}
	tests := []struct {
		strategy sessiond.Strategy
		stage    string
		want     error // the use's error when not the timeout's own
	}{
		{sessiond.StrategyDatabase, "verify", nil},
		{sessiond.StrategyHybrid, "refresh", nil},
		{sessiond.StrategyJWT, "refresh", nil}, // the refresh JWT's own expiry is the session's: it says which
	}
	for _, tt := range tests {
		for _, reason := range []string{"idle", "absolute"} {
			t.Run(string(tt.strategy)+"/"+reason, func(t *testing.T) {
				h := newHarness(t, tt.strategy, func(o *sessiond.Options) { o.Lifetimes = life })
				ctx := context.Background()
				iss, err := h.m.Create(ctx, "alice", sessiond.CreateOptions{})
				if err != nil {
					t.Fatal(err)
				}
				// use presents the session's token at the stage under test.
				use := func() error {
					if tt.stage == "verify" {
						_, err := h.m.Verify(ctx, iss.AccessToken, client)
						return err
					}
					next, err := h.m.Refresh(ctx, iss.RefreshToken, client)
					if err == nil {
						iss = next
					}
					return err
				}
				if reason == "absolute" {
					// Active every 10 minutes until the absolute end.
					for h.clock.Now().Add(10 * time.Minute).Before(iss.Session.ExpiresAt) {
						h.clock.Advance(10 * time.Minute)
						if err := use(); err != nil {
							t.Fatalf("use at %v = %v; want nil while active", h.clock.Now().Sub(t0), err)
						}
					}
					h.clock.Advance(iss.Session.ExpiresAt.Sub(h.clock.Now()) + time.Second)
				} else {
					h.clock.Advance(26 * time.Minute)
				}
				if n := len(h.events.OfType(sessiond.EventSessionExpired)); n != 0 {
					t.Fatalf("%d session.expired events while the session was live; want 0", n)
				}
				wantErr := map[string]error{"idle": sessiond.ErrIdleTimeout, "absolute": sessiond.ErrAbsoluteTimeout}[reason]
				if tt.want != nil {
					wantErr = tt.want
				}
				for range 3 {
					if err := use(); !errors.Is(err, wantErr) {
						t.Fatalf("use after the %s timeout = %v; want %v", reason, err, wantErr)
					}
				}
				got := h.events.OfType(sessiond.EventSessionExpired)
				if len(got) != 1 {
					t.Fatalf("%d session.expired events after 3 uses; want 1", len(got))
				}
				if e := got[0]; e.SessionID != iss.Session.ID || e.Subject != "alice" || e.Client != client ||
					e.Details["stage"] != tt.stage || e.Details["reason"] != reason {
					t.Errorf("event = %+v; want session %s of alice, client %+v, stage %s, reason %s", e, iss.Session.ID, client, tt.stage, reason)
				}
				h.clock.Advance(time.Minute)
				_ = use()
				if n := len(h.events.OfType(sessiond.EventSessionExpired)); n != 2 {
					t.Errorf("%d session.expired events a minute later; want 2", n)
				}
			})
		}
	}
}

// TestManager_SessionExpiredEvent_NotForOthers: refusals that are not a
// timeout raise no session.expired.
func TestManager_SessionExpiredEvent_NotForOthers(t *testing.T) {
	for _, st := range []sessiond.Strategy{sessiond.StrategyDatabase, sessiond.StrategyHybrid} {
		t.Run(string(st), func(t *testing.T) {
			h := newHarness(t, st, nil)
			ctx := context.Background()
			iss, err := h.m.Create(ctx, "alice", sessiond.CreateOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if err := h.m.Revoke(ctx, iss.Session.ID, sessiond.ReasonLogout); err != nil {
				t.Fatal(err)
			}
			if _, err := h.m.Verify(ctx, iss.AccessToken, sessiond.Client{}); !errors.Is(err, sessiond.ErrRevoked) {
				t.Fatalf("Verify(revoked) = %v; want ErrRevoked", err)
			}
			if st == sessiond.StrategyHybrid {
				if _, err := h.m.Refresh(ctx, iss.RefreshToken, sessiond.Client{}); !errors.Is(err, sessiond.ErrRevoked) {
					t.Fatalf("Refresh(revoked) = %v; want ErrRevoked", err)
				}
			}
			_, _ = h.m.Verify(ctx, "sdat_forged", sessiond.Client{})
			if n := len(h.events.OfType(sessiond.EventSessionExpired)); n != 0 {
				t.Errorf("%d session.expired events for a revoked session and a forged token; want 0", n)
			}
		})
	}
}

// TestManager_SessionExpiredEvent_Bounded: however many sessions time out
// at once, a node reports at most 600 a minute for each timeout.
func TestManager_SessionExpiredEvent_Bounded(t *testing.T) {
	h := newHarness(t, sessiond.StrategyDatabase, nil)
	ctx := context.Background()
	var tokens []sessiond.Secret
	for range 610 {
		iss, err := h.m.Create(ctx, "alice", sessiond.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		tokens = append(tokens, iss.AccessToken)
	}
	h.clock.Advance(31 * time.Minute) // past the default 30m idle timeout
	for _, tok := range tokens {
		if _, err := h.m.Verify(ctx, tok, sessiond.Client{}); !errors.Is(err, sessiond.ErrIdleTimeout) {
			t.Fatalf("Verify = %v; want ErrIdleTimeout", err)
		}
	}
	if n := len(h.events.OfType(sessiond.EventSessionExpired)); n != 600 {
		t.Errorf("%d session.expired events for 610 sessions in one minute; want 600", n)
	}
}
