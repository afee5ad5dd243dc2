package sessiond_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/sessiond/sessiond"
)

// TestManager_KillSwitchSameSecond (issue 14, defect 4): JWTs carry their
// session's creation time in whole seconds, the watermark microseconds. A
// login right after the kill switch, in the same wall-clock second, must
// work (it never did in jwt and hybrid: its access tokens were rejected as
// revoked forever), and a session created before the incident, in that same
// second, must still be revoked.
func TestManager_KillSwitchSameSecond(t *testing.T) {
	ctx := context.Background()
	filters := []struct {
		name   string
		filter sessiond.RevokeFilter
	}{
		{"all", sessiond.RevokeFilter{All: true}},
		{"subject", sessiond.RevokeFilter{Subjects: []string{"alice"}}},
	}
	for _, st := range strategies {
		for _, fl := range filters {
			t.Run(string(st)+"/"+fl.name, func(t *testing.T) {
				h := newHarness(t, st, nil)
				at := func(ms int) { h.clock.Set(t0.Add(time.Duration(ms) * time.Millisecond)) }
				refreshes := st != sessiond.StrategyDatabase

				at(100)
				before := h.create(t, "alice", sessiond.CreateOptions{})
				at(300)
				if _, err := h.m.RevokeMatching(ctx, fl.filter, sessiond.ReasonIncident, false); err != nil {
					t.Fatal(err)
				}
				at(700)
				after := h.create(t, "alice", sessiond.CreateOptions{})

				if _, err := h.m.Verify(ctx, before.AccessToken, sessiond.Client{}); !errors.Is(err, sessiond.ErrRevoked) {
					t.Errorf("session from before the incident: Verify = %v; want ErrRevoked", err)
				}
				if refreshes {
					if _, err := h.m.Refresh(ctx, before.RefreshToken, sessiond.Client{}); !errors.Is(err, sessiond.ErrRevoked) {
						t.Errorf("session from before the incident: Refresh = %v; want ErrRevoked", err)
					}
				}
				if _, err := h.m.Verify(ctx, after.AccessToken, sessiond.Client{}); err != nil {
					t.Errorf("login after the incident, same second: Verify = %v; want it valid", err)
				}
				if refreshes {
					next, err := h.m.Refresh(ctx, after.RefreshToken, sessiond.Client{})
					if err != nil {
						t.Fatalf("login after the incident, same second: Refresh = %v; want it valid", err)
					}
					if _, err := h.m.Verify(ctx, next.AccessToken, sessiond.Client{}); err != nil {
						t.Errorf("its refreshed access token: Verify = %v; want it valid", err)
					}
				}
				// Well after the incident, both answers hold.
				at(5000)
				if _, err := h.m.Verify(ctx, after.AccessToken, sessiond.Client{}); err != nil {
					t.Errorf("4 s later: Verify = %v; want it valid", err)
				}
				if _, err := h.m.Verify(ctx, before.AccessToken, sessiond.Client{}); !errors.Is(err, sessiond.ErrRevoked) {
					t.Errorf("4 s later, session from before: Verify = %v; want ErrRevoked", err)
				}
			})
		}
	}

	// A second incident in the same second must reach the logins made
	// between the two, although they were dated to the next second.
	t.Run("two incidents in one second", func(t *testing.T) {
		for _, st := range strategies {
			h := newHarness(t, st, nil)
			at := func(ms int) { h.clock.Set(t0.Add(time.Duration(ms) * time.Millisecond)) }
			all := sessiond.RevokeFilter{All: true}
			at(300)
			if _, err := h.m.RevokeMatching(ctx, all, sessiond.ReasonIncident, false); err != nil {
				t.Fatal(err)
			}
			at(500)
			between := h.create(t, "bob", sessiond.CreateOptions{})
			at(800)
			if _, err := h.m.RevokeMatching(ctx, all, sessiond.ReasonIncident, false); err != nil {
				t.Fatal(err)
			}
			at(900)
			last := h.create(t, "bob", sessiond.CreateOptions{})
			if _, err := h.m.Verify(ctx, between.AccessToken, sessiond.Client{}); !errors.Is(err, sessiond.ErrRevoked) {
				t.Errorf("%s: login between the incidents: Verify = %v; want ErrRevoked", st, err)
			}
			if _, err := h.m.Verify(ctx, last.AccessToken, sessiond.Client{}); err != nil {
				t.Errorf("%s: login after both: Verify = %v; want it valid", st, err)
			}
		}
	})
}
