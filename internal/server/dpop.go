package server

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/dpop"
	"github.com/sessiond/sessiond/internal/config"
	"github.com/sessiond/sessiond/jwttoken/signing"
)

// NonceSecretDoc is the meta document holding the secret DPoP server
// nonces are derived from (dpop.require_nonce).
const NonceSecretDoc = "dpop_nonce"

// dpopVerifier checks the DPoP proofs relayed to the session API. Proof
// identifiers are remembered in the store when it can share them between
// nodes (sessiond.ReplayGuard: memstore, redisstore, and pgstore and
// sqlitestore once they implement it), so a proof replayed to another node
// is refused too; otherwise in this node's memory, which is enough for one
// node. With dpop.require_nonce, nonces come from dpop.SharedNonces on a
// secret kept in the store, so every node accepts every node's nonces.
func dpopVerifier(ctx context.Context, cfg config.Config, store sessiond.Store, meta sessiond.MetaStore, getenv func(string) string, clock sessiond.Clock, log *slog.Logger) (*dpop.Verifier, error) {
	opts := dpop.Options{Clock: clock}
	if g, ok := store.(sessiond.ReplayGuard); ok {
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
		secret, err := nonceSecret(ctx, meta, kek, old)
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

// nonceDoc is the stored form of the nonce secret: sealed with the signing
// KEK when one is configured (as the key ring is), in clear otherwise.
type nonceDoc struct {
	Secret []byte          `json:"secret,omitempty"`
	Sealed json.RawMessage `json:"sealed,omitempty"`
}

// nonceSecret returns the deployment's nonce secret, making it on the first
// start (nodes racing agree through the compare-and-swap). A secret in
// clear, or sealed with an old KEK, is sealed again with kek.
func nonceSecret(ctx context.Context, meta sessiond.MetaStore, kek *signing.KEK, old []*signing.KEK) ([]byte, error) {
	for range 3 {
		raw, version, err := meta.GetMeta(ctx, NonceSecretDoc)
		var secret []byte
		switch {
		case errors.Is(err, sessiond.ErrNotFound):
			secret, version = make([]byte, 32), 0
			_, _ = rand.Read(secret) // crypto/rand.Read never fails on supported platforms
		case err != nil:
			return nil, fmt.Errorf("load %s: %w", NonceSecretDoc, err)
		default:
			var kekID string
			if secret, kekID, err = openNonceDoc(raw, kek, old); err != nil {
				return nil, err
			}
			if kek == nil || kekID == kek.ID {
				return secret, nil
			}
		}
		doc := nonceDoc{Secret: secret}
		if kek != nil {
			if doc.Sealed, err = kek.SealDocument(NonceSecretDoc, secret); err != nil {
				return nil, err
			}
			doc.Secret = nil
		}
		out, err := json.Marshal(doc)
		if err != nil {
			return nil, err
		}
		if _, err := meta.PutMeta(ctx, NonceSecretDoc, out, version); errors.Is(err, sessiond.ErrConflict) {
			continue // another node wrote it first: read theirs
		} else if err != nil {
			return nil, fmt.Errorf("save %s: %w", NonceSecretDoc, err)
		}
		return secret, nil
	}
	return nil, fmt.Errorf("%s keeps changing: %w", NonceSecretDoc, sessiond.ErrConflict)
}

// openNonceDoc reads a stored nonce secret and names the KEK that sealed
// it ("" in clear).
func openNonceDoc(raw []byte, kek *signing.KEK, old []*signing.KEK) ([]byte, string, error) {
	var d nonceDoc
	if err := json.Unmarshal(raw, &d); err != nil || (d.Sealed == nil) == (d.Secret == nil) {
		return nil, "", fmt.Errorf("stored %s document is invalid: %w", NonceSecretDoc, sessiond.ErrInvalidArgument)
	}
	secret, kekID := d.Secret, ""
	if d.Sealed != nil {
		var err error
		if secret, kekID, err = signing.OpenDocument(NonceSecretDoc, d.Sealed, append([]*signing.KEK{kek}, old...)...); err != nil {
			return nil, "", fmt.Errorf("open %s: %w", NonceSecretDoc, err)
		}
	}
	if len(secret) < dpop.MinNonceSecret {
		return nil, "", fmt.Errorf("stored %s secret is too short: %w", NonceSecretDoc, sessiond.ErrInvalidArgument)
	}
	return secret, kekID, nil
}
