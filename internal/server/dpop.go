package server

import (
	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/dpop"
)

// dpopVerifier checks the DPoP proofs relayed to the session API. Proof
// identifiers are remembered in the store when it can share them between
// nodes (sessiond.ReplayGuard: every store sessiond ships), so a proof replayed to
// another node is refused too; otherwise in this node's memory, which is
// enough for one node. Server nonces are not configurable yet.
func dpopVerifier(store sessiond.Store) (*dpop.Verifier, error) {
	var opts dpop.Options
	if g, ok := store.(sessiond.ReplayGuard); ok {
		opts.Replay = g
	}
	return dpop.New(opts)
}
