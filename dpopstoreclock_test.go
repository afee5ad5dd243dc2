package sessiond_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/dpop"
	"github.com/sessiond/sessiond/internal/testenv"
	"github.com/sessiond/sessiond/sessiondtest"
)

// TestDPoPReplayStoreClock_Stores: a node whose clock differs from the
// store's (Redis expires its records by its own) still refuses a proof
// replayed within the window it accepts the proof in, on every store. A
// node behind the store by more than the proof's window (MaxAge + leeway)
// had its record written already expired by the store's clock, so the
// replay passed; a node ahead keeps its record at least as long.
func TestDPoPReplayStoreClock_Stores(t *testing.T) {
	window := dpop.DefaultMaxAge + dpop.DefaultLeeway
	for _, ms := range managerStores() {
		t.Run(ms.name, func(t *testing.T) {
			t.Parallel()
			for _, tc := range []struct {
				name   string
				offset time.Duration // the node's clock minus the store's
			}{
				{"Agreeing", 0},
				{"BehindByTheWindow", -window - time.Minute},
				{"AheadByTheWindow", window + time.Minute},
			} {
				t.Run(tc.name, func(t *testing.T) {
					guard, ok := ms.nodes(t, 1)[0].(sessiond.ReplayGuard)
					if !ok {
						t.Fatal("the store is no sessiond.ReplayGuard")
					}
					clock := sessiondtest.NewClock(time.Now().Add(tc.offset))
					v, err := dpop.New(dpop.Options{Clock: clock, Replay: guard})
					if err != nil {
						t.Fatal(err)
					}
					p := testenv.Prover(t, clock) // the client agrees with the node
					const url = "https://app.example.test/token"
					proof, err := p.Proof("POST", url, "", "")
					if err != nil {
						t.Fatal(err)
					}
					req := dpop.Request{Method: "POST", URL: url, JKT: p.JKT()}
					ctx := context.Background()
					if _, err := v.Verify(ctx, proof, req); err != nil {
						t.Fatalf("Verify(a new proof) = %v; want it to pass", err)
					}
					clock.Advance(time.Second)
					if _, err := v.Verify(ctx, proof, req); !errors.Is(err, dpop.ErrReplayed) {
						t.Fatalf("a second later: Verify(the same proof) = %v; want ErrReplayed", err)
					}
				})
			}
		})
	}
}
