package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/internal/config"
	"github.com/sessiond/sessiond/jwttoken/signing"
	"github.com/sessiond/sessiond/ssf"
)

// SigningKEKs reads the key-encryption keys of the signing key ring:
// signing.kek_file, else the SESSIOND_KEK variable (read with getenv), as
// the KEK that seals; signing.old_kek_files as KEKs that only open. kek is
// nil when neither is set (the ring is stored in clear). The CLI's key
// commands need the same keys as the server.
func SigningKEKs(cfg config.Config, getenv func(string) string) (kek *signing.KEK, old []*signing.KEK, err error) {
	kek, old, errs := signingKEKs(cfg, getenv)
	if len(errs) > 0 {
		return nil, nil, errs[0]
	}
	return kek, old, nil
}

// signingKEKs is SigningKEKs returning every problem, in that order, not
// only the first: the start check lists them all (startcheck.go).
func signingKEKs(cfg config.Config, getenv func(string) string) (kek *signing.KEK, old []*signing.KEK, errs []error) {
	var err error
	if f := cfg.Signing.KEKFile; f != "" {
		if kek, err = readKEK(f); err != nil {
			errs = append(errs, fmt.Errorf("signing.kek_file: %w", err))
		}
	} else if v := getenv(config.EnvKEK); v != "" {
		if kek, err = signing.ParseKEK([]byte(v)); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", config.EnvKEK, err))
		}
	}
	for i, f := range cfg.Signing.OldKEKFiles {
		k, err := readKEK(f)
		if err != nil {
			errs = append(errs, fmt.Errorf("signing.old_kek_files[%d]: %w", i, err))
			continue
		}
		old = append(old, k)
	}
	return kek, old, errs
}

// servedJWKS is GET /.well-known/jwks.json: the ring's public keys, or 503
// store_unavailable while this node cannot read the stored ring (a KEK it
// is not given sealed it): the keys it holds may include one the kill
// switch dropped, which verifiers must not learn from it (/readyz fails
// meanwhile too).
func servedJWKS(keys *signing.Keys) func() ([]byte, error) {
	return func() ([]byte, error) {
		doc, err := keys.JWKS()
		if errors.Is(err, signing.ErrRingUnreadable) {
			return nil, fmt.Errorf("%w: %w", sessiond.ErrStoreUnavailable, err)
		}
		return doc, err
	}
}

// readKEK reads a KEK file as a secret file: a FIFO, a directory or a big
// file is refused, not waited on or read whole, so serve cannot hang at
// start on a wrong path.
func readKEK(path string) (*signing.KEK, error) {
	b, err := config.ReadSecretFile(path)
	if err != nil {
		return nil, err
	}
	return signing.ParseKEK(b)
}

// resealKEKDocuments seals again, with the current KEK, every shared secret
// an old KEK sealed, whichever features use it today: the DPoP nonce
// secret, the DBSC key and the Shared Signals streams' push secrets (the
// signing ring reseals itself when it opens). Step 2 of a KEK rotation
// restarts every node with the old KEK in signing.old_kek_files; once this
// has run nothing needs that KEK, and a feature turned on after it is
// destroyed still opens its secret. With a KEK and no old one (a KEK
// introduced, or a rotation finished) it seals only the secrets still in
// clear, made before the KEK, and writes nothing once none is; that is
// best effort (a failure is logged and tried again at the next start).
func resealKEKDocuments(ctx context.Context, cfg config.Config, getenv func(string) string, meta sessiond.MetaStore, log *slog.Logger) error {
	if getenv == nil {
		getenv = os.Getenv
	}
	kek, old, err := SigningKEKs(cfg, getenv)
	if err != nil || kek == nil {
		return err
	}
	var sealed []string
	for _, d := range []struct {
		name string
		bare bool
	}{{NonceSecretDoc, false}, {DBSCKeyDoc, true}} {
		raw, _, err := meta.GetMeta(ctx, d.name)
		if errors.Is(err, sessiond.ErrNotFound) {
			continue
		} else if err != nil {
			return fmt.Errorf("reseal %s: %w", d.name, err)
		}
		if len(old) == 0 {
			// Only one in clear: one sealed with a KEK not given is its
			// feature's to report, when it is on.
			if _, kekID, _, err := openSecretDoc(d.name, raw, d.bare, kek, nil); err != nil || kekID != "" {
				continue
			}
		}
		if _, _, err := sealedSecret(ctx, meta, d.name, d.bare, kek, old); err != nil {
			if len(old) == 0 {
				// Best effort on every start of a sealed deployment:
				// tried again at the next one.
				log.Warn("could not seal a shared secret kept in clear", "document", d.name, "err", err)
				continue
			}
			return fmt.Errorf("reseal %s: %w", d.name, err)
		}
		sealed = append(sealed, d.name)
	}
	if len(old) > 0 {
		if err := ssf.ResealStreams(ctx, meta, newKEKSealer(kek, old)); err != nil {
			return fmt.Errorf("reseal the ssf streams: %w", err)
		}
	} else if inClear, err := ssf.SealStreamsInClear(ctx, meta, newKEKSealer(kek, nil)); err != nil {
		// A document this node cannot read (another release's, a hand
		// edit) is the transmitter's to report when it is on; it must
		// not stop a node whose transmitter is off from starting.
		log.Warn("could not seal the Shared Signals push secrets kept in clear", "err", err)
	} else if inClear {
		sealed = append(sealed, "ssf.streams")
	}
	switch {
	case len(old) > 0:
		log.Info("shared secrets sealed with the current KEK", "kek", kek.ID)
	case len(sealed) > 0:
		log.Info("shared secrets kept in clear sealed with the KEK", "kek", kek.ID, "documents", sealed)
	}
	return nil
}
