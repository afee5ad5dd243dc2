package gateway

import (
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/httpsession"
)

// WithFailureLimit returns a copy of g whose routes call limit on every
// request refused for a credential that is invalid or unknown: a forged or
// never-issued access token (cookie or Bearer) at check and session, an
// unknown refresh cookie at refresh, a bad, spent or expired login code.
// Never for a request without a credential (an anonymous visitor), an
// expired token, a session revoked, timed out or signed by a retired key,
// a device or key binding the request does not prove, nor a success.
// limit spends one refusal of the request's sender (its browser address)
// and reports whether the sender is still within its limit, or else how
// long until it is; the server gives it rate_limit.auth_failures per
// browser address.
//
// Past the limit, session, refresh and login answer 429 too_many_requests
// with Retry-After instead of their refusal. check keeps its refusal (401,
// or a navigation's redirect) and adds Retry-After to a 401: NGINX's
// auth_request turns any other status into a 500 for the browser, and a
// 429 would keep a browser whose cookie names a collected session away
// from the login page. logout refuses no credential, so it never counts.
func (g *Gateway) WithFailureLimit(limit func(r *http.Request) (ok bool, retryAfter time.Duration)) http.Handler {
	c := *g
	c.fails = limit
	c.mux = c.routes()
	return &c
}

// refusedCredential reports whether err refuses the credential itself as
// invalid or unknown, what a guesser meets, rather than a real session's
// end or a proof the request still owes.
func refusedCredential(err error) bool {
	switch {
	case httpsession.StoreFailure(err),
		errors.Is(err, sessiond.ErrKeyRetired),          // a real token from before a key rotation
		errors.Is(err, httpsession.ErrKeyProofRequired), // a live session's token, bound to a DPoP key
		errors.Is(err, httpsession.ErrDeviceProof):      // a live session's token, its bound cookie to renew
		return false
	}
	return errors.Is(err, sessiond.ErrInvalidToken) || errors.Is(err, sessiond.ErrNotFound)
}

// overLimit spends one refused credential of r's sender and returns how
// long it must wait when it is over the limit, else 0.
func (g *Gateway) overLimit(r *http.Request) time.Duration {
	if g.fails == nil {
		return 0
	}
	if ok, retry := g.fails(r); !ok {
		return max(retry, time.Second)
	}
	return 0
}

// answeredOverLimit answers 429 when err refuses the credential itself
// and r's sender is past its failure limit, and reports whether it did:
// the answer of session and refresh past the limit.
func (g *Gateway) answeredOverLimit(w http.ResponseWriter, r *http.Request, err error) bool {
	if !refusedCredential(err) {
		return false
	}
	retry := g.overLimit(r)
	if retry > 0 {
		tooMany(w, retry)
	}
	return retry > 0
}

func setRetryAfter(w http.ResponseWriter, retry time.Duration) {
	w.Header().Set("Retry-After", strconv.Itoa(int(retry/time.Second)))
}

// tooMany answers 429 with Retry-After, as the API does.
func tooMany(w http.ResponseWriter, retry time.Duration) {
	setRetryAfter(w, retry)
	httpsession.WriteProblem(w, http.StatusTooManyRequests, "too_many_requests", "Too many requests",
		"too many requests with an invalid credential from this address; retry later")
}
