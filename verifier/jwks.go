package verifier

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"encoding/json"
	"fmt"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v4"
)

// maxJWKSBytes bounds the JWKS document read.
const maxJWKSBytes = 1 << 20

type publicKey struct {
	alg string
	pub crypto.PublicKey
}

// keySet is the JWKS as last fetched, minus retired keys.
type keySet struct {
	mu      sync.RWMutex
	keys    map[string]publicKey
	fetchMu sync.Mutex // one fetch at a time

	flightMu sync.Mutex
	fetched  time.Time     // when the last fetch started (rate limit)
	flight   chan struct{} // closed when the refetch under way ends; nil when none
	fetching chan struct{} // closed when the fetch under way (any) ends; nil when none
}

func newKeySet() *keySet { return &keySet{keys: map[string]publicKey{}} }

func (s *keySet) get(kid string) (publicKey, bool) {
	s.mu.RLock()
	k, ok := s.keys[kid]
	s.mu.RUnlock()
	return k, ok
}

func (s *keySet) len() int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return len(s.keys)
}

// replace installs keys and reports whether a key held before is gone.
func (s *keySet) replace(keys map[string]publicKey) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	removed := false
	for kid := range s.keys {
		if _, ok := keys[kid]; !ok {
			removed = true
		}
	}
	s.keys = keys
	return removed
}

func (s *keySet) remove(kid string) {
	s.mu.Lock()
	delete(s.keys, kid)
	s.mu.Unlock()
}

// refetchKeys fetches the JWKS again unless a fetch started less than
// MinRefetchInterval ago; errors are logged (the token then fails as
// signed by an unknown key). The fetch outlives ctx, a request's: a client
// that hangs up must not abort it, or one token with a made-up kid per
// interval would keep every new key from being learnt. A caller that finds
// a fetch under way (a refetch, or a reload's after a reset, which may
// bring the kid however recently it started) waits for it (or for ctx)
// instead of queueing to start another: with the JWKS endpoint hanging,
// each would take up to refetchTimeout.
func (v *Verifier) refetchKeys(ctx context.Context) {
	s := v.keys
	s.flightMu.Lock()
	wait := s.flight
	if wait == nil {
		wait = s.fetching // not a refetch: a reload's, after a reset
	}
	if wait != nil {
		s.flightMu.Unlock()
		select {
		case <-wait:
		case <-ctx.Done():
		}
		return
	}
	if time.Since(s.fetched) < v.opts.MinRefetchInterval {
		s.flightMu.Unlock()
		return
	}
	flight := make(chan struct{})
	s.flight = flight
	s.flightMu.Unlock()
	defer func() {
		s.flightMu.Lock()
		s.flight = nil
		s.flightMu.Unlock()
		close(flight)
	}()
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), refetchTimeout)
	defer cancel()
	if err := v.fetchKeys(ctx); err != nil {
		v.log.Warn("verifier: JWKS refetch", "err", err)
	}
}

// refetchTimeout bounds a refetch that no request's context does.
const refetchTimeout = 10 * time.Second

// fetchKeys fetches the JWKS and installs it.
func (v *Verifier) fetchKeys(ctx context.Context) error {
	v.keys.fetchMu.Lock()
	defer v.keys.fetchMu.Unlock()
	return v.fetchKeysLocked(ctx)
}

func (v *Verifier) fetchKeysLocked(ctx context.Context) error {
	s := v.keys
	done := make(chan struct{})
	s.flightMu.Lock()
	s.fetched, s.fetching = time.Now(), done
	s.flightMu.Unlock()
	defer func() {
		s.flightMu.Lock()
		s.fetching = nil
		s.flightMu.Unlock()
		close(done)
	}()
	body, err := v.fetchDocument(ctx, "jwks", "/.well-known/jwks.json", false, maxJWKSBytes, "application/json", "application/jwk-set+json")
	if err != nil {
		return err
	}
	keys, err := parseJWKS(body)
	if err != nil {
		return fmt.Errorf("verifier: jwks: %w", err)
	}
	for kid := range keys {
		if v.state.keyRetired(kid) {
			delete(keys, kid)
		}
	}
	if v.keys.replace(keys) {
		v.cache.purge()
	}
	return nil
}

// parseJWKS returns the usable signing keys of a JWKS document: public
// Ed25519 and P-256 keys with a kid, an alg that fits them and use "sig"
// (or none). Other keys are skipped; a document that is not a JWKS fails.
func parseJWKS(body []byte) (map[string]publicKey, error) {
	// Each key is decoded on its own: one of a type go-jose does not know
	// (a new key type, a proxy's addition) is skipped, as the Node
	// verifier skips it, instead of failing the whole set and with it
	// every token (RFC 7517 §5: ignore keys that cannot be used).
	var set struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(body, &set); err != nil {
		return nil, fmt.Errorf("not a JWK set: %w", err)
	}
	out := map[string]publicKey{}
	for _, raw := range set.Keys {
		var k jose.JSONWebKey
		if json.Unmarshal(raw, &k) != nil {
			continue
		}
		if k.KeyID == "" || (k.Use != "" && k.Use != "sig") {
			continue
		}
		switch pub := k.Public().Key.(type) {
		case ed25519.PublicKey:
			if k.Algorithm == "EdDSA" {
				out[k.KeyID] = publicKey{alg: "EdDSA", pub: pub}
			}
		case *ecdsa.PublicKey:
			if k.Algorithm == "ES256" && pub.Curve == elliptic.P256() {
				out[k.KeyID] = publicKey{alg: "ES256", pub: pub}
			}
		}
	}
	return out, nil
}
