package server

import (
	"context"
	"log/slog"
	"os"
	"sync/atomic"
	"time"

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
// secret kept in the store, so every node accepts every node's nonces;
// the secret is registered with secrets, so that it is written back (or
// the one written back adopted) when the store loses it.
func dpopVerifier(ctx context.Context, cfg config.Config, store sessiond.Store, meta sessiond.MetaStore, getenv func(string) string, clock sessiond.Clock, secrets *sharedSecrets, log *slog.Logger) (*dpop.Verifier, error) {
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
		secret, err := newSharedSecret(ctx, meta, NonceSecretDoc, false, kek, old)
		if err != nil {
			return nil, err
		}
		nonces := &swappedNonces{}
		if err := nonces.set(secret.current(), cfg.DPoP.NoncePeriod.Std(), clock); err != nil {
			return nil, err
		}
		secret.onChange = func(b []byte) {
			if err := nonces.set(b, cfg.DPoP.NoncePeriod.Std(), clock); err != nil {
				log.Error("DPoP nonce secret not adopted", "err", err)
			}
		}
		secrets.add(secret)
		opts.Nonces = nonces
		log.Info("DPoP server nonces required", "period", cfg.DPoP.NoncePeriod.String(), "sealed", kek != nil)
	}
	return dpop.New(opts)
}

// swappedNonces are dpop.SharedNonces whose secret can be replaced while
// serving: by the one written back after the store lost it
// (sharedSecret). Nonces of the replaced secret are refused; clients retry
// once with the new one.
type swappedNonces struct {
	p atomic.Pointer[dpop.SharedNonces]
}

func (n *swappedNonces) set(secret []byte, period time.Duration, clock sessiond.Clock) error {
	s, err := dpop.NewSharedNonces(secret, period, clock)
	if err != nil {
		return err
	}
	n.p.Store(s)
	return nil
}

// Current implements dpop.NonceSource.
func (n *swappedNonces) Current(ctx context.Context) (string, error) { return n.p.Load().Current(ctx) }

// Valid implements dpop.NonceSource.
func (n *swappedNonces) Valid(ctx context.Context, nonce string) (bool, error) {
	return n.p.Load().Valid(ctx, nonce)
}
