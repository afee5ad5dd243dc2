package sessiond_test

import (
	"context"
	"testing"
	"time"

	"github.com/sessiond/sessiond"
)

// TestRevokeTokenChecked_ReuseNamesPresenter: a retired refresh token
// presented at a logout (RevokeTokenChecked with the request's client) is
// reported as refresh-token reuse naming the client that presented it, as
// RefreshChecked's reuse event does; it named nobody.
func TestRevokeTokenChecked_ReuseNamesPresenter(t *testing.T) {
	for _, rotated := range []bool{false, true} {
		name := "plain"
		if rotated {
			name = "rotated since"
		}
		t.Run(name, func(t *testing.T) {
			h := newHarness(t, sessiond.StrategyHybrid, nil)
			ctx := context.Background()
			iss := h.create(t, "rita", sessiond.CreateOptions{})
			next, err := h.m.Refresh(ctx, iss.RefreshToken, sessiond.Client{})
			if err != nil {
				t.Fatal(err)
			}
			if rotated {
				if _, err := h.m.RotateFrom(ctx, next.Session.ID, sessiond.Client{}, false); err != nil {
					t.Fatal(err)
				}
			}
			h.clock.Advance(time.Hour) // past any reuse interval
			thief := sessiond.Client{IP: "198.51.100.7", UserAgent: "UA-THIEF"}
			if err := h.m.RevokeTokenChecked(ctx, iss.RefreshToken, thief, func(*sessiond.Session) error { return nil }); err != nil {
				t.Fatal(err)
			}
			evs := h.events.OfType(sessiond.EventRefreshReused)
			if len(evs) != 1 {
				t.Fatalf("%d reuse events; want 1", len(evs))
			}
			if evs[0].Client != thief {
				t.Errorf("reuse event client = %+v; want the presenter %+v, as RefreshChecked records", evs[0].Client, thief)
			}
		})
	}
}
