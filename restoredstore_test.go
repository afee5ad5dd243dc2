package sessiond_test

import (
	"context"
	"errors"
	"testing"

	"github.com/sessiond/sessiond"
)

// TestManager_RefreshRevokedOnlyHere: a store restored from a backup holds
// a session revoked after the backup as live again, while the running
// nodes (and the verifiers following the revocation stream) still hold the
// revocation and refuse its access tokens. A refresh on such a node must
// be refused too, or it hands out access tokens that every verifier
// refuses. The node learns of the revocation as from the feed
// (NoteRevoked); the store, like the restored one, never had it.
func TestManager_RefreshRevokedOnlyHere(t *testing.T) {
	for _, cached := range []bool{true, false} {
		name := map[bool]string{true: "grant cache", false: "no grant cache"}[cached]
		t.Run(name, func(t *testing.T) {
			h := newHarness(t, sessiond.StrategyHybrid, func(o *sessiond.Options) {
				if !cached {
					o.RefreshCacheSize = -1
				}
			})
			ctx := context.Background()
			iss := h.create(t, "alice", sessiond.CreateOptions{})
			h.m.NoteRevoked(sessiond.Revocation{SessionID: iss.Session.ID, Subject: "alice", RevokedAt: h.clock.Now(),
				ExpiresAt: iss.Session.ExpiresAt, Reason: sessiond.ReasonLogout})
			if _, err := h.m.Verify(ctx, iss.AccessToken, sessiond.Client{}); !errors.Is(err, sessiond.ErrRevoked) {
				t.Fatalf("Verify(access token of the revoked session) = %v; want ErrRevoked", err)
			}
			if got, err := h.m.Refresh(ctx, iss.RefreshToken, sessiond.Client{}); !errors.Is(err, sessiond.ErrRevoked) {
				t.Errorf("Refresh(refresh token of a session this node holds revoked) = %v, %v; want ErrRevoked", got != nil, err)
			}
		})
	}
}
