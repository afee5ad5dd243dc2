package server_test

import (
	"errors"
	"testing"
	"time"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/client"
	"github.com/sessiond/sessiond/internal/config"
)

// TestMultiNode_RotateAndRevokeOthers: two nodes on one PostgreSQL or
// Redis store (checklist C.24/C.25, E.42/E.44). A rotation on node A ends
// the old session at once on node B too, for an access token B has in its
// verify cache, for introspection on B and for the old refresh token on B
// (which must revive nothing); revoke-others on A then keeps exactly the
// current session on both nodes.
func TestMultiNode_RotateAndRevokeOthers(t *testing.T) {
	for _, st := range sharedStores(t) {
		t.Run(st.name, func(t *testing.T) {
			cfg := devConfig(t)
			st.configure(t, &cfg)
			ca, cb := twoNodes(t, cfg)
			ctx := t.Context()
			const subject = "Ünïcode-Probe/ß"

			old, err := ca.CreateSession(ctx, client.CreateRequest{Subject: subject})
			if err != nil {
				t.Fatal(err)
			}
			other, err := cb.CreateSession(ctx, client.CreateRequest{Subject: subject})
			if err != nil {
				t.Fatal(err)
			}
			caseVariant, err := cb.CreateSession(ctx, client.CreateRequest{Subject: "ünïcode-probe/ß"})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := cb.Verify(ctx, old.AccessToken, nil); err != nil { // now in B's verify cache
				t.Fatal(err)
			}
			rot, err := ca.Rotate(ctx, old.Session.ID)
			if err != nil {
				t.Fatal(err)
			}
			eventually(t, 10*time.Second, "node B refuses the rotated-away access token", func() bool {
				_, err := cb.Verify(ctx, old.AccessToken, nil)
				return errors.Is(err, sessiond.ErrRevoked)
			})
			if in, err := cb.Introspect(ctx, old.AccessToken); err != nil || in.Active {
				t.Errorf("introspect(old access) on B = %+v, %v; want inactive", in, err)
			}
			if old.RefreshToken != "" {
				if _, err := cb.Refresh(ctx, old.RefreshToken, nil); err == nil {
					t.Error("the old session's refresh token refreshes on node B after the rotation")
				}
			}
			if _, err := cb.Verify(ctx, rot.AccessToken, nil); err != nil {
				t.Fatalf("successor on B: %v", err)
			}

			// Revoke others, keeping the rotated session.
			n, err := ca.RevokeSubject(ctx, subject, rot.Session.ID)
			if err != nil || n != 1 {
				t.Errorf("RevokeSubject(except current) = %d, %v; want 1 (the other session)", n, err)
			}
			eventually(t, 10*time.Second, "node B refuses the other session", func() bool {
				_, err := cb.Verify(ctx, other.AccessToken, nil)
				return errors.Is(err, sessiond.ErrRevoked)
			})
			for _, c := range []*client.Client{ca, cb} {
				if _, err := c.Verify(ctx, rot.AccessToken, nil); err != nil {
					t.Errorf("the kept session no longer verifies: %v", err)
				}
				if _, err := c.Verify(ctx, caseVariant.AccessToken, nil); err != nil {
					t.Errorf("a case-variant subject's session was revoked: %v", err)
				}
			}
			if other.RefreshToken != "" {
				if _, err := ca.Refresh(ctx, other.RefreshToken, nil); err == nil {
					t.Error("a revoked session's refresh token refreshes")
				}
			}
			list, err := cb.ListSessions(ctx, subject)
			if err != nil || len(list) != 1 || list[0].ID != rot.Session.ID {
				t.Errorf("ListSessions on B = %+v, %v; want only the rotated session", list, err)
			}
		})
	}
}

// TestMultiNode_ReuseAfterRotation: on a shared store, a refresh token
// retired before its session was rotated on node A, replayed on node B
// after the reuse interval, is reuse: node B ends the successor, which
// both nodes then refuse.
func TestMultiNode_ReuseAfterRotation(t *testing.T) {
	for _, st := range sharedStores(t) {
		t.Run(st.name, func(t *testing.T) {
			cfg := devConfig(t)
			st.configure(t, &cfg)
			cfg.Lifetime.ReuseInterval = config.Duration(time.Second)
			ca, cb := twoNodes(t, cfg)
			ctx := t.Context()

			victim, err := ca.CreateSession(ctx, client.CreateRequest{Subject: "rotated-thief"})
			if err != nil {
				t.Fatal(err)
			}
			stolen, err := ca.Refresh(ctx, victim.RefreshToken, nil)
			if err != nil {
				t.Fatal(err)
			}
			time.Sleep(1100 * time.Millisecond) // past the reuse interval
			succ, err := ca.Rotate(ctx, stolen.Session.ID)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := cb.Refresh(ctx, victim.RefreshToken, nil); !errors.Is(err, sessiond.ErrRefreshReused) {
				t.Errorf("retired token of a rotated session, on node B = %v; want ErrRefreshReused", err)
			}
			for name, c := range map[string]*client.Client{"A": ca, "B": cb} {
				eventually(t, 10*time.Second, "node "+name+" refuses the successor", func() bool {
					_, err := c.Verify(ctx, succ.AccessToken, nil)
					return errors.Is(err, sessiond.ErrRevoked)
				})
			}
			if list, err := ca.ListSessions(ctx, "rotated-thief"); err != nil || len(list) != 0 {
				t.Errorf("ListSessions = %d, %v; want none live", len(list), err)
			}
		})
	}
}
