package sessiond_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/sessiond/sessiond"
)

// TestManager_RevokeTokenRetiredIsReuse: a retired refresh token presented
// to RevokeToken (RFC 7009) is theft evidence as at Refresh. Outside the
// reuse interval, with reuse detection, the session ends with reason reuse
// and the reuse is recorded, and so does the successor of a session
// rotated since; within the interval, without detection, or with the live
// token, the revocation is the holder's logout as before. A retired token
// of a key-bound session, which Refresh takes (as reuse or within the
// interval) only with a proof of the key that a revocation request cannot
// carry, ends nothing, whatever the interval and detection; the live
// token of one still ends it. Every case answers nil.
func TestManager_RevokeTokenRetiredIsReuse(t *testing.T) {
	ctx := context.Background()
	okProof := func(*sessiond.Session) error { return nil }
	for _, tc := range []struct {
		name string
		mod  func(*sessiond.Options)
		bind bool // the session is bound to a DPoP key
		// present returns the token RevokeToken gets and the session whose
		// fate the case checks, from a login whose refresh token the
		// first refresh retired (at t0).
		present func(t *testing.T, h *harness, login, next *sessiond.Issued) (sessiond.Secret, sessiond.SessionID)
		after   time.Duration // from the first refresh to the revocation
		reason  sessiond.RevokeReason
		reused  int
	}{
		{name: "retired outside the interval", after: 10 * time.Second, reason: sessiond.ReasonReuse, reused: 1,
			present: retiredToken},
		{name: "retired within the interval", after: 2 * time.Second, reason: sessiond.ReasonLogout,
			present: retiredToken},
		{name: "current token", after: 10 * time.Second, reason: sessiond.ReasonLogout,
			present: func(_ *testing.T, _ *harness, _, next *sessiond.Issued) (sessiond.Secret, sessiond.SessionID) {
				return next.RefreshToken, next.Session.ID
			}},
		{name: "reuse detection off", after: 10 * time.Second, reason: sessiond.ReasonLogout,
			mod: func(o *sessiond.Options) { o.NoReuseDetection = true }, present: retiredToken},
		{name: "retired before a rotation ends the successor", after: 10 * time.Second, reason: sessiond.ReasonReuse, reused: 1,
			present: func(t *testing.T, h *harness, login, next *sessiond.Issued) (sessiond.Secret, sessiond.SessionID) {
				succ, err := h.m.Rotate(context.Background(), next.Session.ID)
				if err != nil {
					t.Fatal(err)
				}
				return login.RefreshToken, succ.Session.ID
			}},
		{name: "retired of a key-bound session", bind: true, after: 10 * time.Second, present: retiredToken},
		{name: "retired of a key-bound session within the interval", bind: true, after: 2 * time.Second, present: retiredToken},
		{name: "retired of a key-bound session, reuse detection off", bind: true, after: 10 * time.Second,
			mod: func(o *sessiond.Options) { o.NoReuseDetection = true }, present: retiredToken},
		{name: "current token of a key-bound session", bind: true, after: 10 * time.Second, reason: sessiond.ReasonLogout,
			present: func(_ *testing.T, _ *harness, _, next *sessiond.Issued) (sessiond.Secret, sessiond.SessionID) {
				return next.RefreshToken, next.Session.ID
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, sessiond.StrategyHybrid, tc.mod)
			var o sessiond.CreateOptions
			if tc.bind {
				o.KeyThumbprint = testJKT
			}
			login := h.create(t, "revoke-retired", o)
			next, err := h.m.RefreshChecked(ctx, login.RefreshToken, sessiond.Client{}, okProof)
			if err != nil {
				t.Fatal(err)
			}
			h.clock.Advance(tc.after)
			tok, id := tc.present(t, h, login, next)
			if err := h.m.RevokeToken(ctx, tok); err != nil {
				t.Fatalf("RevokeToken = %v; want nil", err)
			}
			s, err := h.store.Get(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			if s.RevokeReason != tc.reason {
				t.Errorf("session %s after RevokeToken: revoke reason %q; want %q", id, s.RevokeReason, tc.reason)
			}
			if n := h.events.Count(sessiond.EventRefreshReused); n != tc.reused {
				t.Errorf("%d %s events; want %d", n, sessiond.EventRefreshReused, tc.reused)
			}
			if tc.reason == sessiond.ReasonReuse {
				if _, err := h.m.Verify(ctx, next.AccessToken, sessiond.Client{}); !errors.Is(err, sessiond.ErrRevoked) {
					t.Errorf("Verify(the family's access token) = %v; want ErrRevoked", err)
				}
			}
		})
	}
}

// retiredToken presents the login's refresh token, retired by the first
// refresh, and checks its session.
func retiredToken(_ *testing.T, _ *harness, login, _ *sessiond.Issued) (sessiond.Secret, sessiond.SessionID) {
	return login.RefreshToken, login.Session.ID
}
