package verifier

import (
	"context"
	"errors"
	"net/http"
	"strings"

	"github.com/sessiond/sessiond/dpop"
	"github.com/sessiond/sessiond/internal/dpopadvice"
)

type claimsKey struct{}

// ClaimsFrom returns the claims Middleware verified for this request.
func ClaimsFrom(ctx context.Context) (Claims, bool) {
	c, ok := ctx.Value(claimsKey{}).(Claims)
	return c, ok
}

// dpopAlgs is the algs parameter of the DPoP challenge (RFC 9449 §7.1).
const dpopAlgs = `algs="ES256 ES384 ES512 RS256 RS384 RS512 PS256 PS384 PS512 EdDSA"`

// Middleware admits requests that carry a valid access token and hands them
// to next with the claims in their context (ClaimsFrom):
//
//   - `Authorization: Bearer <token>` for tokens not bound to a key;
//   - `Authorization: DPoP <token>` plus exactly one `DPoP: <proof>` header
//     for tokens bound to a key (cnf.jkt), the proof checked against the
//     request's method and URL (Options.ExternalURL and the path).
//
// Other requests get 401 with a WWW-Authenticate challenge (RFC 6750 §3,
// RFC 9449 §7.1): error="invalid_token" for a missing, invalid, revoked or
// expired token, a bound token sent as Bearer or an unbound one sent as
// DPoP; error="invalid_dpop_proof" for a missing, invalid or replayed
// proof; error="use_dpop_nonce" with a DPoP-Nonce header when
// Options.DPoP.Nonces is set and the proof lacks the current nonce. A stale
// revocation state under RejectWhenStale answers 503 with Retry-After.
func (v *Verifier) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Exactly one Authorization header: with two, a proxy in front
		// and this check could each read a different token.
		auth := r.Header.Values("Authorization")
		scheme, tok, ok := "", "", len(auth) == 1
		if ok {
			scheme, tok, ok = credentials(auth[0])
		}
		if !ok {
			w.Header().Set("WWW-Authenticate", `Bearer realm="api"`)
			w.Header().Add("WWW-Authenticate", `DPoP realm="api", `+dpopAlgs)
			http.Error(w, "an access token is required", http.StatusUnauthorized)
			return
		}
		var opts []VerifyOption
		if scheme == "DPoP" {
			proofs := r.Header.Values("DPoP")
			if len(proofs) != 1 {
				challenge(w, "DPoP", "invalid_dpop_proof")
				http.Error(w, "exactly one DPoP proof is required", http.StatusUnauthorized)
				return
			}
			opts = append(opts, WithDPoP(proofs[0], r.Method, v.requestURL(r)))
		}
		c, err := v.Verify(r.Context(), tok, opts...)
		switch {
		case errors.Is(err, ErrStale):
			w.Header().Set("Retry-After", "5")
			http.Error(w, "cannot check revocations right now", http.StatusServiceUnavailable)
			return
		case errors.Is(err, dpop.ErrUseNonce):
			if n, nerr := v.Nonce(r.Context()); nerr == nil && n != "" {
				w.Header().Set("DPoP-Nonce", n)
			}
			challenge(w, "DPoP", "use_dpop_nonce")
			http.Error(w, "the DPoP proof must carry the nonce in DPoP-Nonce", http.StatusUnauthorized)
			return
		case errors.Is(err, dpop.ErrInvalidProof):
			challenge(w, "DPoP", "invalid_dpop_proof")
			http.Error(w, invalidProofText(err), http.StatusUnauthorized)
			return
		case errors.Is(err, ErrDPoPRequired):
			challenge(w, "DPoP", "invalid_token")
			http.Error(w, "the access token is bound to a key: send it with the DPoP scheme and a proof", http.StatusUnauthorized)
			return
		case err != nil:
			challenge(w, scheme, "invalid_token")
			http.Error(w, "the access token is not valid", http.StatusUnauthorized)
			return
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), claimsKey{}, c)))
	})
}

// invalidProofText names the refusals an honest client fixes itself in
// the words of sessiond's API problem detail (dpopadvice), the others not.
func invalidProofText(err error) string {
	if advice := dpopadvice.For(err); advice != "" {
		return advice
	}
	return "the DPoP proof is not valid"
}

func challenge(w http.ResponseWriter, scheme, code string) {
	if scheme == "DPoP" {
		w.Header().Set("WWW-Authenticate", `DPoP realm="api", error="`+code+`", `+dpopAlgs)
		return
	}
	w.Header().Set("WWW-Authenticate", `Bearer realm="api", error="`+code+`"`)
}

// requestURL is the URL the client addressed, as a proof's htu names it:
// the query is left out (RFC 9449 §4.3 ignores it).
func (v *Verifier) requestURL(r *http.Request) string {
	base := v.opts.ExternalURL
	if base == "" {
		base = "http://" + r.Host
		if r.TLS != nil {
			base = "https://" + r.Host
		}
	}
	return base + r.URL.EscapedPath()
}

// credentials splits an Authorization header into its scheme, Bearer or
// DPoP (matched case-insensitively), and the token.
func credentials(h string) (scheme, token string, ok bool) {
	s, tok, ok := strings.Cut(h, " ")
	switch {
	case !ok:
		return "", "", false
	case strings.EqualFold(s, "Bearer"):
		scheme = "Bearer"
	case strings.EqualFold(s, "DPoP"):
		scheme = "DPoP"
	default:
		return "", "", false
	}
	tok = strings.TrimLeft(tok, " ")
	return scheme, tok, tok != "" && !strings.ContainsAny(tok, " \t")
}
