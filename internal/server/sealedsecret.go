package server

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/jwttoken/signing"
)

// secretSize is the size of a secret kept in a meta document, and the
// least a stored one may hold.
const secretSize = 32

// secretDoc is the stored form of a secret every node shares (the DPoP
// nonce secret, the DBSC MAC key): sealed with the signing KEK when one is
// configured, as the key ring is, in clear otherwise.
type secretDoc struct {
	Secret []byte          `json:"secret,omitempty"`
	Sealed json.RawMessage `json:"sealed,omitempty"`
}

// sealedSecret returns the secret kept in the meta document name, making
// a random one on first use; nodes starting at once agree through the
// compare-and-swap of PutMeta. A secret stored in clear, or sealed with an
// old KEK, is sealed again with kek and stays the same secret. bare: the
// document may hold the bare bytes an earlier release stored (in clear);
// they are read and rewritten in the current form. sealedWith is the ID
// of the KEK the stored secret is sealed with ("" in clear).
func sealedSecret(ctx context.Context, meta sessiond.MetaStore, name string, bare bool, kek *signing.KEK, old []*signing.KEK) (secret []byte, sealedWith string, err error) {
	for range 3 {
		raw, version, err := meta.GetMeta(ctx, name)
		switch {
		case errors.Is(err, sessiond.ErrNotFound):
			secret, version = make([]byte, secretSize), 0
			_, _ = rand.Read(secret) // crypto/rand.Read never fails on supported platforms
		case err != nil:
			return nil, "", fmt.Errorf("load %s: %w", name, err)
		default:
			var kekID string
			var rewrite bool
			if secret, kekID, rewrite, err = openSecretDoc(name, raw, bare, kek, old); err != nil {
				return nil, "", err
			}
			if !rewrite && (kek == nil || kekID == kek.ID) {
				return secret, kekID, nil
			}
		}
		out, err := sealSecretDoc(name, secret, kek)
		if err != nil {
			return nil, "", err
		}
		if _, err := meta.PutMeta(ctx, name, out, version); errors.Is(err, sessiond.ErrConflict) {
			continue // another node wrote it first: read theirs
		} else if err != nil {
			return nil, "", fmt.Errorf("save %s: %w", name, err)
		}
		if kek != nil {
			sealedWith = kek.ID
		}
		return secret, sealedWith, nil
	}
	return nil, "", fmt.Errorf("%s keeps changing: %w", name, sessiond.ErrConflict)
}

// writeBackKEK is the KEK a node seals a secret it writes back with: its
// KEK, else the old KEK sealedWith names (a node given KEKs only as old
// ones writes a sealed secret back sealed, never in clear), else none.
func writeBackKEK(kek *signing.KEK, old []*signing.KEK, sealedWith string) *signing.KEK {
	if kek != nil || sealedWith == "" {
		return kek
	}
	for _, k := range old {
		if k != nil && k.ID == sealedWith {
			return k
		}
	}
	return nil
}

func sealSecretDoc(name string, secret []byte, kek *signing.KEK) ([]byte, error) {
	doc := secretDoc{Secret: secret}
	if kek != nil {
		var err error
		if doc.Sealed, err = kek.SealDocument(name, secret); err != nil {
			return nil, err
		}
		doc.Secret = nil
	}
	return json.Marshal(doc)
}

// openSecretDoc reads a stored secret and names the KEK that sealed it
// ("" in clear); rewrite reports bare bytes of an earlier release.
func openSecretDoc(name string, raw []byte, bare bool, kek *signing.KEK, old []*signing.KEK) (secret []byte, kekID string, rewrite bool, err error) {
	if bare && !json.Valid(raw) && len(raw) >= secretSize {
		// Random bytes; a document would be JSON.
		return raw, "", true, nil
	}
	var d secretDoc
	if err := json.Unmarshal(raw, &d); err != nil || (d.Sealed == nil) == (d.Secret == nil) {
		return nil, "", false, fmt.Errorf("stored %s document is invalid: %w", name, sessiond.ErrInvalidArgument)
	}
	secret = d.Secret
	if d.Sealed != nil {
		if secret, kekID, err = signing.OpenDocument(name, d.Sealed, append([]*signing.KEK{kek}, old...)...); err != nil {
			return nil, "", false, fmt.Errorf("open %s: %w", name, err)
		}
	}
	if len(secret) < secretSize {
		return nil, "", false, fmt.Errorf("stored %s secret is too short: %w", name, sessiond.ErrInvalidArgument)
	}
	return secret, kekID, false, nil
}
