package server

import (
	"context"
	"log/slog"
	"os"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/dpop"
	"github.com/sessiond/sessiond/internal/config"
)

// NonceSecretDoc is the meta document holding the secret DPoP server
// nonces are derived from (dpop.require_nonce).
const NonceSecretDoc = "dpop_nonce"

// A stored secret is long enough for dpop.NewSharedNonces (the constant
// would not compile otherwise).
const _ = uint(secretSize - dpop.MinNonceSecret)

// dpopVerifier checks the DPoP proofs relayed to the session API. Proof
// identifiers are remembered in the store when it can share them between
// nodes (sessiond.ReplayGuard: every store sessiond ships), so a proof
// replayed to another node is refused too; otherwise in this node's memory, which is enough for one
// node. With dpop.require_nonce, nonces come from dpop.SharedNonces on a
// secret kept in the store, so every node accepts every node's nonces.
func dpopVerifier(ctx context.Context, cfg config.Config, store sessiond.Store, meta sessiond.MetaStore, getenv func(string) string, clock sessiond.Clock, log *slog.Logger) (*dpop.Verifier, error) {
	opts := dpop.Options{Clock: clock}
	if g := replayGuard(store); g != nil {
		opts.Replay = g
	}
	if cfg.DPoP.RequireNonce {
		if getenv == nil {
			getenv = os.Getenv
		}
		kek, old, err := SigningKEKs(cfg, getenv)
		if err != nil {
			return nil, err
		}
		secret, err := sealedSecret(ctx, meta, NonceSecretDoc, false, kek, old)
		if err != nil {
			return nil, err
		}
		if opts.Nonces, err = dpop.NewSharedNonces(secret, cfg.DPoP.NoncePeriod.Std(), clock); err != nil {
			return nil, err
		}
		log.Info("DPoP server nonces required", "period", cfg.DPoP.NoncePeriod.String(), "sealed", kek != nil)
	}
	return dpop.New(opts)
}
