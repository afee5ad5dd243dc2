package setup

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/jwttoken"
	"github.com/sessiond/sessiond/jwttoken/signing"
)

// JWKSMaxAge is the longest JWKSHandler lets a verifier cache the JWKS, as
// the server does. With a Keys.PublishFor shorter than it plus a poll
// (signing.Keys.Lead), the handler allows only Lead, so that a verifier's
// cached copy still knows a new key before the key signs.
const JWKSMaxAge = 5 * time.Minute

// Node is this process's share of a deployment, as Open wired it: the
// Manager and the key ring that signs its tokens. Its methods are safe for
// concurrent use.
type Node struct {
	// Manager is the Manager New would return; Close stops it.
	Manager *sessiond.Manager
	// Keys is the key ring shared through the store, for what Ready and
	// JWKS do not cover: Rotate, and RetireAll (the kill switch: no token
	// signed before verifies again, on any process once it has polled).
	// Nil when Open shares none: the database strategy, a
	// Manager.Signed of your own, or a store that is not a
	// sessiond.MetaStore (the ring is then this process's alone).
	Keys *signing.Keys

	store sessiond.Store
	ring  *jwttoken.KeyRing // the ring that signs; nil without one
}

// Ready reports why this process should not take traffic, as the
// server's /readyz does: the store does not answer (its Ping), or the key
// ring cannot be shared (Keys.Ready). The second is an error matching
// signing.ErrRingUnreadable (and signing.ErrKEKRequired when another
// process sealed the ring with a KEK this one is not given): this process
// misses every rotation and kill switch made since, so until it can read
// the ring again it signs nothing (logins and refreshes fail with
// sessiond.ErrStoreUnavailable) and verifies with the keys it holds.
// Nil otherwise. Bound ctx: a store that hangs makes Ping wait.
func (n *Node) Ready(ctx context.Context) error {
	if err := n.store.Ping(ctx); err != nil {
		return err
	}
	if n.Keys != nil {
		return n.Keys.Ready()
	}
	return nil
}

// JWKS returns the public keys of the ring (jwttoken.KeyRing.JWKS), for
// verifiers of the access tokens. While the stored ring is unreadable
// (see Ready) it fails with an error matching signing.ErrRingUnreadable:
// the keys this process holds may include one the kill switch dropped,
// which no verifier must learn from it. Without a ring (the database
// strategy, a Manager.Signed of your own) it fails with
// sessiond.ErrUnsupported.
func (n *Node) JWKS() ([]byte, error) {
	switch {
	case n.Keys != nil:
		return n.Keys.JWKS()
	case n.ring != nil:
		return n.ring.JWKS()
	}
	return nil, fmt.Errorf("setup: jwks: no key ring was wired: %w", sessiond.ErrUnsupported)
}

// JWKSHandler serves JWKS as the server serves /.well-known/jwks.json:
// GET and HEAD, cacheable for JWKSMaxAge, or for Keys.Lead when that is
// shorter; 503 while the stored ring is unreadable and 404 without a ring,
// neither cacheable. Mount it at GET /.well-known/jwks.json.
func (n *Node) JWKSHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			h.Set("Allow", "GET, HEAD")
			http.Error(w, "use GET", http.StatusMethodNotAllowed)
			return
		}
		doc, err := n.JWKS()
		if err != nil {
			h.Set("Cache-Control", "no-store")
			code := http.StatusInternalServerError
			switch {
			case errors.Is(err, signing.ErrRingUnreadable):
				code = http.StatusServiceUnavailable
			case errors.Is(err, sessiond.ErrUnsupported):
				code = http.StatusNotFound
			}
			http.Error(w, http.StatusText(code), code) // the detail is for the log (Ready), not the world
			return
		}
		h.Set("Content-Type", "application/json")
		h.Set("Cache-Control", fmt.Sprintf("public, max-age=%d", n.jwksMaxAge()/time.Second))
		if r.Method == http.MethodHead {
			return
		}
		_, _ = w.Write(doc)
	})
}

// jwksMaxAge is JWKSMaxAge, shortened to the ring's Lead: a longer cache
// makes verifiers refuse a new key's tokens until it expires.
func (n *Node) jwksMaxAge() time.Duration {
	if n.Keys == nil {
		return JWKSMaxAge
	}
	return min(JWKSMaxAge, n.Keys.Lead())
}

// Close closes the Manager (Manager.Close): its loops stop, the key
// ring's included. It does not close the store.
func (n *Node) Close() error { return n.Manager.Close() }
