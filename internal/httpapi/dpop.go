package httpapi

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/apitype"
	"github.com/sessiond/sessiond/dpop"
	"github.com/sessiond/sessiond/internal/dpopadvice"
)

// DPoP (RFC 9449) on the session API, kept out of sessions.go: the app
// relays the proof its client sent it, with the method and URL of the
// client's request, and sessiond checks it against the session's key.
//
//   - POST /v1/sessions binds the new session to a key: dpop_proof (with htm
//     and htu of the client's token request) or dpop_jkt.
//   - POST /v1/sessions/verify of a bound token requires dpop_proof, htm and
//     htu: signature, the token's cnf.jkt, htm/htu, ath of the access
//     token, iat, jti replay (in this order). Unbound tokens skip all of it.
//   - POST /v1/sessions/refresh of a bound session requires a proof by the
//     same key; it is checked before the refresh token is rotated.
//
// A proof refused answers 401 invalid_dpop_proof; a missing or old server
// nonce answers 401 use_dpop_nonce with the nonce to use in DPoP-Nonce. Both
// carry a WWW-Authenticate: DPoP challenge naming the error (RFC 9449 §7.1).

const headerDPoPNonce = "DPoP-Nonce"

// dpopProof is the proof a client sent the app, relayed in a request body
// (the wire type the Go client shares).
type dpopProof = apitype.DPoPProof

// dpopBinding is what POST /v1/sessions accepts to bind a session.
type dpopBinding struct {
	dpopProof
	JKT string `json:"dpop_jkt"`
}

// newDPoP returns v, or a Verifier with defaults (replay cache in memory).
func newDPoP(v *dpop.Verifier, clock sessiond.Clock) (*dpop.Verifier, error) {
	if v != nil {
		return v, nil
	}
	return dpop.New(dpop.Options{Clock: clock})
}

// checkDPoP verifies p for req; a missing proof is invalid_dpop_proof.
func (s *server) checkDPoP(ctx context.Context, w http.ResponseWriter, p *dpopProof, req dpop.Request) (*dpop.Proof, error) {
	if p.Proof == "" {
		w.Header().Set("WWW-Authenticate", `DPoP error="invalid_dpop_proof"`)
		return nil, &requestError{status: http.StatusUnauthorized, code: apitype.CodeInvalidDPoPProof,
			detail: "the session is bound to a key: dpop_proof, htm and htu are required"}
	}
	if p.HTM == "" || p.HTU == "" {
		return nil, badRequest("htm and htu are required with dpop_proof")
	}
	req.Method, req.URL = p.HTM, p.HTU
	proof, err := s.dpop.Verify(ctx, p.Proof, req)
	switch {
	case errors.Is(err, dpop.ErrUseNonce):
		w.Header().Set("WWW-Authenticate", `DPoP error="use_dpop_nonce"`)
		if n, nerr := s.dpop.Nonce(ctx); nerr == nil && n != "" {
			w.Header().Set(headerDPoPNonce, n)
		}
		return nil, &requestError{status: http.StatusUnauthorized, code: apitype.CodeUseDPoPNonce,
			detail: "the DPoP proof must carry the server nonce given in DPoP-Nonce", cause: err}
	case errors.Is(err, dpop.ErrInvalidProof):
		w.Header().Set("WWW-Authenticate", `DPoP error="invalid_dpop_proof"`)
		return nil, &requestError{status: http.StatusUnauthorized, code: apitype.CodeInvalidDPoPProof,
			detail: invalidProofDetail(err), cause: err}
	case err != nil:
		return nil, err // the replay cache or nonce source failed: 5xx, logged
	}
	if n, nerr := s.dpop.Nonce(ctx); nerr == nil && n != "" {
		w.Header().Set(headerDPoPNonce, n) // the nonce for the client's next proof
	}
	return proof, nil
}

// invalidProofDetail is the detail of a refused proof: the reasons an
// honest client fixes itself named as the Go verifier names them
// (dpopadvice), the others not.
func invalidProofDetail(err error) string {
	if advice := dpopadvice.For(err); advice != "" {
		return advice
	}
	return "the DPoP proof is not valid for this token and request"
}

// bindKey returns the thumbprint a new session is bound to, "" for none.
func (s *server) bindKey(ctx context.Context, w http.ResponseWriter, b *dpopBinding) (string, error) {
	if b.Proof == "" {
		if b.HTM != "" || b.HTU != "" {
			return "", badRequest("htm and htu go with dpop_proof")
		}
		if b.JKT != "" && !isThumbprint(b.JKT) {
			// The Manager would refuse it too, naming its own field
			// (key_thumbprint), which the client never sent.
			return "", badRequest("dpop_jkt must be a base64url SHA-256 key thumbprint (43 characters)")
		}
		return b.JKT, nil
	}
	p, err := s.checkDPoP(ctx, w, &b.dpopProof, dpop.Request{})
	if err != nil {
		return "", err
	}
	if b.JKT != "" && b.JKT != p.JKT {
		return "", badRequest("dpop_jkt is not the thumbprint of the dpop_proof key")
	}
	return p.JKT, nil
}

// checkBound checks the proof of a verified session's access token; the
// fast path for unbound sessions is one bytes.Contains on their claims.
// A proof refused (missing, invalid, or without htm and htu) also matches
// sessiond.ErrInvalidToken, so that sessiond_verify_total counts a refused
// token, not a server error; the answer is still the requestError's. A
// nonce challenge matches sessiond.ErrChallenge (dpop.ErrUseNonce), and a
// failure of the replay cache or nonce source stays a fault.
func (s *server) checkBound(ctx context.Context, w http.ResponseWriter, sess *sessiond.Session, access sessiond.Secret, p *dpopProof) error {
	jkt := sess.KeyThumbprint()
	if jkt == "" {
		return nil
	}
	_, err := s.checkDPoP(ctx, w, p, dpop.Request{AccessToken: access, JKT: jkt, NotAfter: sess.ExpiresAt})
	if _, refused := errors.AsType[*requestError](err); refused && !errors.Is(err, sessiond.ErrChallenge) {
		return fmt.Errorf("%w: %w", err, sessiond.ErrInvalidToken)
	}
	return err
}

// refreshCheck returns the check RefreshChecked runs on the session: a
// bound session needs a proof by its key (no ath: the refresh token is not
// an access token).
func (s *server) refreshCheck(ctx context.Context, w http.ResponseWriter, p *dpopProof) func(*sessiond.Session) error {
	return func(sess *sessiond.Session) error {
		jkt := sess.KeyThumbprint()
		if jkt == "" {
			return nil
		}
		// No token of the session, which a proof of its key could come
		// with, outlives it.
		_, err := s.checkDPoP(ctx, w, p, dpop.Request{JKT: jkt, NotAfter: sess.ExpiresAt})
		return err
	}
}

// isThumbprint reports whether s has the form of an RFC 7638 SHA-256
// thumbprint in base64url: 43 characters of its alphabet.
func isThumbprint(s string) bool {
	if len(s) != 43 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}
