package gateway

import (
	"errors"
	"net/http"
	"net/url"
	"time"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/httpsession"
)

// Identity headers of a valid check; the proxy copies them to the app.
const (
	HeaderSubject   = "X-Sessiond-Subject"
	HeaderSessionID = "X-Sessiond-Session-Id"
	HeaderExpiresAt = "X-Sessiond-Expires-At"
	HeaderStepUp    = "X-Sessiond-Step-Up"
)

// Header values shared by every answer. Each has len == cap, so a later
// Add copies instead of writing into the shared array.
var (
	noStoreValue = []string{"no-store"}[:1:1]
	trueValue    = []string{"true"}[:1:1]
)

// check is GET <prefix>/check, the forward-auth endpoint. A valid session
// (cookie or Bearer) answers 200 with the identity headers and no body.
// Otherwise a script or API call gets 401 with a problem document, and a
// page navigation is sent to the login page with the original path as
// return_to, or, when only the access token has expired, to the refresh
// page, which refreshes and comes back without the user noticing.
//
// Caddy forward_auth (and Traefik, Envoy) return a non-2xx answer to the
// browser as it is, so the navigation answer is a 303. NGINX auth_request
// understands only 2xx, 401 and 403; its request is recognised by
// X-Original-URI (how auth_request configurations pass the URI) and
// answered with 401 and the target in Location, which the NGINX
// configuration turns into the redirect.
//
// Any method is served: auth_request sends the original request's.
func (g *Gateway) check(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h["Cache-Control"] = noStoreValue
	v, err := g.s.Inspect(r)
	if err == nil && !headerSafe(v.Session.Subject) {
		// HTTP trims a header value's outer spaces (Go on writing, and
		// proxies on reading): " alice" would reach the app as "alice",
		// another user, and " " as no subject on a valid session.
		g.log.WarnContext(r.Context(), "gateway: check: the session's subject has leading or trailing spaces, which X-Sessiond-Subject cannot carry; refused",
			"session_id", v.Session.ID)
		httpsession.WriteProblem(w, http.StatusForbidden, "subject_not_header_safe", "Forbidden",
			"the session's subject has leading or trailing spaces, which the identity header cannot carry")
		return
	}
	if err == nil {
		// The three values share one array: one allocation, not three.
		vals := &[3]string{v.Session.Subject, string(v.Session.ID), v.Session.ExpiresAt.UTC().Format(time.RFC3339)}
		h[HeaderSubject] = vals[0:1:1]
		h[HeaderSessionID] = vals[1:2:2]
		h[HeaderExpiresAt] = vals[2:3:3]
		if v.StepUp {
			h[HeaderStepUp] = trueValue
		}
		w.WriteHeader(http.StatusOK)
		return
	}
	if httpsession.StoreFailure(err) {
		g.log.ErrorContext(r.Context(), "gateway: check", "err", err)
		httpsession.WriteProblem(w, http.StatusServiceUnavailable, "store_unavailable", "Service unavailable", "the session store is unavailable; retry later")
		return
	}
	// Over the failure limit check still answers its refusal, never 429
	// (WithFailureLimit): its 401s carry Retry-After.
	var retry time.Duration
	if refusedCredential(err) {
		retry = g.overLimit(r)
	}
	method := r.Header.Get("X-Forwarded-Method")
	if method == "" {
		method = r.Method
	}
	if !httpsession.IsNavigation(method, r.Header) {
		if retry > 0 {
			setRetryAfter(w, retry)
		}
		httpsession.WriteUnauthorized(w, r, err)
		return
	}
	// NGINX sets X-Original-URI itself but passes a client's own
	// X-Forwarded-Uri along: with both, X-Original-URI is the proxy's.
	authRequest := r.Header.Get("X-Original-URI") != ""
	orig := r.Header.Get("X-Original-URI")
	if !authRequest {
		orig = r.Header.Get("X-Forwarded-Uri")
	}
	returnTo, rerr := g.ReturnTo(orig)
	if rerr != nil {
		returnTo = "" // nothing safe to come back to: the login page decides
	}
	target := g.loginURL(returnTo)
	if errors.Is(err, sessiond.ErrExpired) && g.s.Manager().Strategy() != sessiond.StrategyDatabase {
		// The access JWT has expired; the refresh cookie, sent only to
		// the refresh route, may still be good.
		target = g.prefix + "/refresh"
		if returnTo != "" {
			target += "?return_to=" + url.QueryEscape(returnTo)
		}
	}
	g.log.DebugContext(r.Context(), "gateway: check: navigation without a valid session", "err", err)
	h.Set("Location", target)
	if authRequest {
		if retry > 0 {
			setRetryAfter(w, retry)
		}
		httpsession.WriteUnauthorized(w, r, err)
		return
	}
	w.WriteHeader(http.StatusSeeOther)
}

// headerSafe reports whether subject reaches the app unchanged as a
// header value. Subjects hold no control characters (the API refuses
// them), so what HTTP changes is the spaces at either end, which header
// parsing trims.
func headerSafe(subject string) bool {
	return subject != "" && subject[0] != ' ' && subject[len(subject)-1] != ' '
}
