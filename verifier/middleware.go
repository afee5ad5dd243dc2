package verifier

import (
	"context"
	"errors"
	"net/http"
	"strings"
)

type claimsKey struct{}

// ClaimsFrom returns the claims Middleware verified for this request.
func ClaimsFrom(ctx context.Context) (Claims, bool) {
	c, ok := ctx.Value(claimsKey{}).(Claims)
	return c, ok
}

// Middleware admits requests that carry a valid access token as
// `Authorization: Bearer <token>` and hands them to next with the claims
// in their context (ClaimsFrom). Other requests get 401 with a
// WWW-Authenticate challenge (RFC 6750 §3), or 503 with Retry-After when
// the revocation state is stale and the policy rejects.
func (v *Verifier) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tok, ok := bearer(r.Header.Get("Authorization"))
		if !ok {
			w.Header().Set("WWW-Authenticate", `Bearer realm="api"`)
			http.Error(w, "an access token is required", http.StatusUnauthorized)
			return
		}
		c, err := v.Verify(r.Context(), tok)
		switch {
		case errors.Is(err, ErrStale):
			w.Header().Set("Retry-After", "5")
			http.Error(w, "cannot check revocations right now", http.StatusServiceUnavailable)
			return
		case err != nil:
			w.Header().Set("WWW-Authenticate", `Bearer realm="api", error="invalid_token"`)
			http.Error(w, "the access token is not valid", http.StatusUnauthorized)
			return
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), claimsKey{}, c)))
	})
}

func bearer(h string) (string, bool) {
	scheme, tok, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	tok = strings.TrimLeft(tok, " ")
	return tok, tok != "" && !strings.ContainsAny(tok, " \t")
}
