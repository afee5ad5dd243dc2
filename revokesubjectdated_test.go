package sessiond_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/sessiond/sessiond"
)

// TestManager_RevokeSubjectDatedLogin: a login in the second of a kill
// switch's watermark is dated to the next second (docs/lifecycle.md), after
// a revocation of its subject that follows it in the same second; that
// revocation still ends it, on every store and whether the store writes
// the events with the change or not. Redis once left it live, judging
// which sessions to revoke by their creation time.
func TestManager_RevokeSubjectDatedLogin(t *testing.T) {
	for _, ms := range managerStores() {
		t.Run(ms.name, func(t *testing.T) {
			for _, mode := range sinkModes {
				t.Run(mode.name, func(t *testing.T) {
					c := newCluster(t, ms, 1, mode.carry, mode.sink)
					m, ctx := c.nodes[0], context.Background()
					c.clock.Advance(300 * time.Millisecond)
					if _, err := m.RevokeMatching(ctx, sessiond.RevokeFilter{Subjects: []string{"dora"}}, sessiond.ReasonIncident, false); err != nil {
						t.Fatal(err)
					}
					c.clock.Advance(200 * time.Millisecond)
					iss, err := m.Create(ctx, "dora", sessiond.CreateOptions{})
					if err != nil {
						t.Fatal(err)
					}
					if !iss.Session.CreatedAt.After(c.clock.Now()) {
						t.Fatalf("login created at %v, not dated past now %v: the case needs it", iss.Session.CreatedAt, c.clock.Now())
					}
					c.clock.Advance(200 * time.Millisecond)
					n, err := m.RevokeSubject(ctx, "dora", "", sessiond.ReasonAdmin)
					if err != nil || n != 1 {
						t.Fatalf("RevokeSubject = %d, %v; want 1 (the dated login)", n, err)
					}
					if _, err := m.Verify(ctx, iss.AccessToken, sessiond.Client{}); !errors.Is(err, sessiond.ErrRevoked) {
						t.Errorf("the dated login's token after RevokeSubject: %v; want ErrRevoked", err)
					}
				})
			}
		})
	}
}
