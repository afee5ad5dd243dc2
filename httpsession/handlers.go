package httpsession

import (
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/sessiond/sessiond"
)

// problemTypeBase + code is a problem document's `type`, as in the server API.
const problemTypeBase = "https://sessiond.dev/problems/"

type problem struct {
	Type   string `json:"type"`
	Title  string `json:"title"`
	Status int    `json:"status"`
	Code   string `json:"code"`
	Detail string `json:"detail,omitempty"`
}

// WriteProblem writes an RFC 9457 problem document, as the middleware's
// own refusals are written. Details must be fixed texts: never a token or
// an internal error (checklist 109).
func WriteProblem(w http.ResponseWriter, status int, code, title, detail string) {
	writeProblem(w, status, code, title, detail)
}

func writeProblem(w http.ResponseWriter, status int, code, title, detail string) {
	h := w.Header()
	h.Set("Content-Type", "application/problem+json")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(problem{Type: problemTypeBase + code, Title: title, Status: status, Code: code, Detail: detail})
}

// WriteUnauthorized is the default Unauthenticated: 401, a problem
// document that does not say why, and the RFC 6750 challenge.
func WriteUnauthorized(w http.ResponseWriter, r *http.Request, err error) {
	writeUnauthorized(w, r, err)
}

// writeUnauthorized is the default Unauthenticated: 401 and a problem
// document that does not say why (an attacker probing tokens learns
// nothing), with the RFC 6750 challenge for API clients.
func writeUnauthorized(w http.ResponseWriter, r *http.Request, err error) {
	if re, ok := errors.AsType[*reauthError](err); ok {
		w.Header().Set("WWW-Authenticate", fmt.Sprintf(`Bearer error="insufficient_user_authentication", error_description="a more recent authentication is required", max_age="%d"`,
			int(re.maxAge/time.Second)))
		writeProblem(w, http.StatusUnauthorized, "reauthentication_required", "Authentication required", "log in again to continue")
		return
	}
	if errors.Is(err, ErrNoCredentials) {
		w.Header().Set("WWW-Authenticate", `Bearer`)
	} else {
		w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
	}
	writeProblem(w, http.StatusUnauthorized, "unauthorized", "Unauthorized", "a valid session is required")
}

// RedirectTo returns an Unauthenticated handler that sends browser page
// navigations (GET or HEAD) to loginURL with the requested path as
// `next`, and answers everything else (fetch, API clients, POSTs) with the
// default 401 problem, which the JS client turns into a refresh and retry.
// The caller must check `next` is a local path before redirecting to it.
func RedirectTo(loginURL string) func(w http.ResponseWriter, r *http.Request, err error) {
	return func(w http.ResponseWriter, r *http.Request, err error) {
		if !isNavigation(r) {
			writeUnauthorized(w, r, err)
			return
		}
		target := loginURL
		if p := r.URL.Path; p != "" && p != loginURL {
			sep := "?"
			if strings.Contains(target, "?") {
				sep = "&"
			}
			// Only the path: a query could hold anything, a token included.
			target += sep + "next=" + url.QueryEscape(p)
		}
		w.Header().Set("Cache-Control", "no-store")
		http.Redirect(w, r, target, http.StatusSeeOther)
	}
}

// isNavigation tells a browser loading a page from a script or API call.
func isNavigation(r *http.Request) bool { return IsNavigation(r.Method, r.Header) }

// IsNavigation reports whether a request with this method and these
// headers is a browser loading a page (a top-level navigation) rather than
// a script (fetch, XHR) or an API client: a GET or HEAD with
// Sec-Fetch-Mode: navigate, or, from a browser too old to send
// Sec-Fetch-Mode, without Authorization and with an Accept header that
// prefers text/html (or XHTML): no media range has a higher q. A script
// that accepts HTML only as a fallback (application/json,
// text/html;q=0.1) gets the script's answer.
func IsNavigation(method string, h http.Header) bool {
	if method != http.MethodGet && method != http.MethodHead {
		return false
	}
	if mode := h.Get("Sec-Fetch-Mode"); mode != "" {
		return mode == "navigate"
	}
	return h.Get("Authorization") == "" && prefersHTML(h.Values("Accept"))
}

// prefersHTML reports whether the Accept header lines give text/html or
// application/xhtml+xml a q above 0 that no other media range beats.
// Ranges that do not parse are skipped, as RFC 9110 §12.5.1 lets a server
// treat an invalid Accept.
func prefersHTML(accept []string) bool {
	best, html := 0.0, 0.0
	for _, line := range accept {
		for part := range strings.SplitSeq(line, ",") {
			if strings.TrimSpace(part) == "" {
				continue
			}
			mt, params, err := mime.ParseMediaType(part)
			if err != nil {
				continue
			}
			q := 1.0
			if v, ok := params["q"]; ok {
				if q, err = strconv.ParseFloat(v, 64); err != nil || !(q >= 0 && q <= 1) { // NaN too
					continue
				}
			}
			best = max(best, q)
			if mt == "text/html" || mt == "application/xhtml+xml" {
				html = max(html, q)
			}
		}
	}
	return html > 0 && html >= best
}

// CSRF refuses unsafe-method requests (POST, PUT, DELETE…) that a browser
// sends from another origin, with 403: Go's http.CrossOriginProtection,
// which reads Sec-Fetch-Site and falls back to comparing Origin with Host.
// Requests with neither header (non-browser clients) and safe methods
// pass. Options.TrustedOrigins are allowed. Wrap it outside Require, so a
// forged request is refused before anything else looks at it.
func (s *Sessions) CSRF(next http.Handler) http.Handler { return s.cop.Handler(next) }

func (s *Sessions) denyCrossOrigin(w http.ResponseWriter, r *http.Request) {
	// Cut as the event's fields are: the headers are the client's, and
	// this line is not throttled.
	s.log.InfoContext(r.Context(), "httpsession: cross-origin request refused", "method", sessiond.CleanText(r.Method, 16),
		"path", sessiond.CleanText(r.URL.Path, 256), "origin", sessiond.CleanText(r.Header.Get("Origin"), 256),
		"sec_fetch_site", sessiond.CleanText(r.Header.Get("Sec-Fetch-Site"), 32))
	s.m.ReportCSRFRejected(r.Context(), s.Client(r), r.Method, r.URL.Path, r.Header.Get("Origin"), r.Header.Get("Sec-Fetch-Site"))
	writeProblem(w, http.StatusForbidden, "cross_origin_refused", "Forbidden", "cross-origin requests may not change state")
}

// Expiry is the JSON body of the refresh endpoint: when the tokens in the
// new cookies expire (never the tokens themselves: checklist 15).
type Expiry struct {
	AccessExpiresAt time.Time `json:"access_token_expires_at"`
	// ExpiresIn is AccessExpiresAt as whole seconds from the answer on,
	// rounded down (expires_in, RFC 6749 §5.1), set by the refresh
	// endpoint: a device whose clock is off cannot compare an instant
	// with it, but can count seconds. ExpiryOf, which has no clock, leaves
	// it out; a login handler may set it with ExpiresInAt.
	ExpiresIn        *int64     `json:"expires_in,omitempty"`
	RefreshExpiresAt *time.Time `json:"refresh_token_expires_at,omitempty"`
	// StepUpRequired: the anomaly rules ask for a new sign-in before
	// anything sensitive (the refresh came from another browser, say).
	StepUpRequired bool `json:"step_up_required,omitempty"`
	// ReuseIntervalSeconds is the Manager's ReuseInterval (0: none), set
	// by the refresh endpoint: the browser client bounds its first refresh
	// attempt by it, so that a retry still finds the token the first may
	// have rotated (sdk/sessiond.js).
	ReuseIntervalSeconds *float64 `json:"reuse_interval_seconds,omitempty"`
}

// ExpiryOf returns the Expiry of iss, for a login handler that answers a
// script in JSON.
func ExpiryOf(iss *sessiond.Issued) Expiry {
	e := Expiry{AccessExpiresAt: iss.AccessExpiresAt.UTC(), StepUpRequired: iss.StepUp}
	if !iss.RefreshExpiresAt.IsZero() {
		t := iss.RefreshExpiresAt.UTC()
		e.RefreshExpiresAt = &t
	}
	return e
}

// ExpiresInAt returns the whole seconds from now to end, rounded down and
// never below zero: Expiry.ExpiresIn of an answer written at now, as
// sessiond.ExpiresIn computes it for the API's token answers too.
func ExpiresInAt(end, now time.Time) *int64 {
	n := sessiond.ExpiresIn(end, now)
	return &n
}

// RefreshHandler is the endpoint to mount at RefreshPath: POST only
// (behind CSRF), it refreshes (Refresh) and answers 200 with an Expiry in
// JSON, or 401 with a problem document and expired cookies. In the
// database strategy, which has no refresh token, it checks the session
// cookie (which counts as activity) and reports when the session ends.
func (s *Sessions) RefreshHandler() http.Handler { return s.RefreshHandlerWith(nil) }

// RefreshHandlerWith is RefreshHandler with refused called on a refresh
// refused for its credential (the 401 cases, after the cookies are
// expired) before the handler answers: when refused writes the answer
// itself it returns true, and the handler writes nothing more. The
// gateway uses it to answer 429 past its failed-credential limit.
func (s *Sessions) RefreshHandlerWith(refused func(http.ResponseWriter, *http.Request, error) bool) http.Handler {
	return s.CSRF(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			w.Header().Set("Allow", http.MethodPost)
			writeProblem(w, http.StatusMethodNotAllowed, "method_not_allowed", "Method not allowed", "use POST")
			return
		}
		var (
			body Expiry
			err  error
		)
		if s.m.Strategy() == sessiond.StrategyDatabase {
			var sess *sessiond.Session
			if sess, err = s.authenticate(r); err == nil {
				body.AccessExpiresAt = sess.ExpiresAt.UTC()
				body.ExpiresIn = ExpiresInAt(sess.ExpiresAt, s.m.Now())
			}
		} else {
			var iss *sessiond.Issued
			if iss, err = s.Refresh(w, r); err == nil {
				body = ExpiryOf(iss)
				body.ExpiresIn = ExpiresInAt(iss.AccessExpiresAt, s.m.Now())
				reuse := s.m.ReuseInterval().Seconds()
				body.ReuseIntervalSeconds = &reuse
			}
		}
		switch {
		case StoreFailure(err):
			s.log.ErrorContext(r.Context(), "httpsession: refresh", "err", err)
			writeProblem(w, http.StatusServiceUnavailable, "store_unavailable", "Service unavailable", "the session store is unavailable; retry later")
		case errors.Is(err, sessiond.ErrRateLimited):
			// Too many failed refreshes of this user: the cookies are
			// expired all the same (Refresh), the page goes to the login.
			secs := 1
			if rl, ok := errors.AsType[*sessiond.RateLimitError](err); ok {
				secs = max(int(rl.RetryAfter/time.Second), 1)
			}
			w.Header().Set("Retry-After", strconv.Itoa(secs))
			writeProblem(w, http.StatusTooManyRequests, "too_many_requests", "Too many requests", "too many failed refreshes; sign in again or retry later")
		case err != nil:
			if errors.Is(err, sessiond.ErrRefreshReused) {
				s.log.WarnContext(r.Context(), "httpsession: refresh token reused; session revoked", "err", err)
			} else {
				s.log.DebugContext(r.Context(), "httpsession: refresh refused", "err", err)
			}
			if refused != nil && refused(w, r, err) {
				return
			}
			writeUnauthorized(w, r, err)
		default:
			w.Header().Set("Cache-Control", "no-store")
			w.Header().Set("Content-Type", "application/json")
			_ = json.NewEncoder(w).Encode(body)
		}
	}))
}

// LogoutHandler is a logout endpoint: POST only (behind CSRF), it calls
// Logout, then sends a form submission (a page navigation) to redirect
// with 303 and answers a script with 204. If the store could not be
// reached it answers 503 and keeps the cookies, so that a retry can end
// the session.
func (s *Sessions) LogoutHandler(redirect string) http.Handler {
	return s.CSRF(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			w.Header().Set("Allow", http.MethodPost)
			writeProblem(w, http.StatusMethodNotAllowed, "method_not_allowed", "Method not allowed", "use POST")
			return
		}
		if err := s.Logout(w, r); err != nil {
			s.log.ErrorContext(r.Context(), "httpsession: logout", "err", err)
			writeProblem(w, http.StatusServiceUnavailable, "store_unavailable", "Service unavailable", "the session could not be revoked; retry later")
			return
		}
		if r.Header.Get("Sec-Fetch-Mode") == "navigate" && redirect != "" {
			http.Redirect(w, r, redirect, http.StatusSeeOther)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}))
}
