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

// TestDPoPAheadRemembered_Stores: a proof by the bound key refused on one
// node for an iat ahead of the clock is remembered in the store's replay
// guard, so the request captured with it is refused as a replay on
// another node (another connection: a node started since) once the clock
// reaches the iat, on every store; the device's next proof still passes.
// The clock starts at the real time: Redis expires its records by its own.
func TestDPoPAheadRemembered_Stores(t *testing.T) {
	for _, ms := range managerStores() {
		t.Run(ms.name, func(t *testing.T) {
			t.Parallel()
			nodes := ms.nodes(t, 2)
			clock := sessiondtest.NewClock(time.Now().UTC().Truncate(time.Second))
			verifiers := make([]*dpop.Verifier, len(nodes))
			for i, n := range nodes {
				guard, ok := n.(sessiond.ReplayGuard)
				if !ok {
					t.Fatalf("%T is no sessiond.ReplayGuard", n)
				}
				v, err := dpop.New(dpop.Options{Clock: clock, Replay: guard})
				if err != nil {
					t.Fatal(err)
				}
				verifiers[i] = v
			}
			fast := sessiondtest.NewClock(clock.Now().Add(time.Hour))
			p := testenv.Prover(t, fast)
			const url = "https://app.example.test/token"
			req := dpop.Request{Method: "POST", URL: url, JKT: p.JKT(), NotAfter: clock.Now().Add(2 * time.Hour)}
			captured, err := p.Proof("POST", url, "", "")
			if err != nil {
				t.Fatal(err)
			}
			ctx := context.Background()
			if _, err := verifiers[0].Verify(ctx, captured, req); !errors.Is(err, sessiond.ErrClockSkew) {
				t.Fatalf("node 0: Verify(a proof an hour ahead) = %v; want ErrClockSkew", err)
			}
			clock.Advance(time.Hour)
			if _, err := verifiers[1].Verify(ctx, captured, req); !errors.Is(err, dpop.ErrReplayed) {
				t.Fatalf("node 1, an hour later: Verify(the captured proof) = %v; want ErrReplayed", err)
			}
			fast.Set(clock.Now())
			next, err := p.Proof("POST", url, "", "")
			if err != nil {
				t.Fatal(err)
			}
			if _, err := verifiers[1].Verify(ctx, next, req); err != nil {
				t.Fatalf("node 1: Verify(a new proof, the clock set right) = %v; want it to pass", err)
			}
		})
	}
}
