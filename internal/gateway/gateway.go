// Package gateway serves sessiond's browser routes: the
// same-origin session gateway that a reverse proxy (NGINX auth_request,
// Caddy forward_auth) asks about every request, plus refresh, logout, the
// session for the JS client and the login-code handoff. Cookies, CSRF and
// credential checks are httpsession's; this package adds the routes, the
// return_to rules and the login codes. See docs/gateway.md.
package gateway

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/httpsession"
)

// DefaultPrefix is the path prefix of the browser routes.
const DefaultPrefix = "/sessiond"

// The DBSC routes under the prefix; the Sessions' DBSCOptions must name
// them (RegistrationPath, RefreshPath).
const (
	DBSCRegistrationRoute = "/dbsc/register"
	DBSCRefreshRoute      = "/dbsc/refresh"
)

// Options configure a Gateway. Zero values take the documented defaults.
type Options struct {
	// Sessions sets and reads the cookies and guards against CSRF.
	// Required; its RefreshPath must be Prefix + "/refresh".
	Sessions *httpsession.Sessions
	// Meta keeps the login codes, shared by every node. Required.
	Meta sessiond.MetaStore
	// Prefix of the routes. Default DefaultPrefix.
	Prefix string
	// LoginURL is the app's login page, relative ("/login") or absolute;
	// a browser without a session is sent there with ?return_to=<path>.
	// Required.
	LoginURL string
	// Clock for the login codes; default sessiond.SystemClock.
	Clock sessiond.Clock
	// Logger; nil discards.
	Logger *slog.Logger
}

// Gateway serves the browser routes. It is safe for concurrent use.
type Gateway struct {
	s        *httpsession.Sessions
	prefix   string
	login    *url.URL
	codes    codes
	log      *slog.Logger
	mux      *http.ServeMux
	resumePg []byte
	fails    func(*http.Request) (bool, time.Duration) // WithFailureLimit; nil: no limit
}

// New checks opts and returns the gateway.
func New(opts Options) (*Gateway, error) {
	g := &Gateway{s: opts.Sessions, prefix: opts.Prefix, log: opts.Logger,
		codes: codes{meta: opts.Meta, clock: opts.Clock}}
	if g.s == nil || opts.Meta == nil {
		return nil, fmt.Errorf("gateway: Sessions and Meta are required: %w", sessiond.ErrInvalidArgument)
	}
	if g.prefix == "" {
		g.prefix = DefaultPrefix
	}
	if err := CheckPrefix(g.prefix); err != nil {
		return nil, err
	}
	if g.codes.clock == nil {
		g.codes.clock = sessiond.SystemClock{}
	}
	if g.log == nil {
		g.log = slog.New(slog.DiscardHandler)
	}
	u, err := url.Parse(opts.LoginURL)
	if err != nil || opts.LoginURL == "" || (u.Scheme != "" && u.Scheme != "https" && u.Scheme != "http") ||
		(u.Scheme == "" && !strings.HasPrefix(u.Path, "/")) || strings.HasPrefix(opts.LoginURL, "//") || u.Fragment != "" {
		return nil, fmt.Errorf("gateway: LoginURL %q must be a path (/login) or an http(s) URL: %w", opts.LoginURL, sessiond.ErrInvalidArgument)
	}
	g.login = u

	g.mux = g.routes()
	return g, nil
}

// routes returns the mux of the routes, bound to g.
func (g *Gateway) routes() *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc(g.prefix+"/check", g.check)
	mux.HandleFunc(g.prefix+"/refresh", g.refresh(g.refreshPost()))
	mux.Handle(g.prefix+"/logout", g.s.CSRF(http.HandlerFunc(g.logout)))
	mux.HandleFunc(g.prefix+"/session", g.session)
	mux.HandleFunc(g.prefix+"/login", g.exchange)
	if g.s.DBSCPolicy() != httpsession.DBSCOff {
		dbsc := g.s.DBSCHandler()
		mux.Handle(g.prefix+DBSCRegistrationRoute, dbsc)
		mux.Handle(g.prefix+DBSCRefreshRoute, dbsc)
	}
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		httpsession.WriteProblem(w, http.StatusNotFound, "not_found", "Not found", "no such route")
	})
	return mux
}

// CheckPrefix reports whether p can prefix the routes: "/" and a path
// without a trailing slash, dots, or characters that need escaping.
func CheckPrefix(p string) error {
	ok := len(p) > 1 && p[0] == '/' && !strings.HasSuffix(p, "/") && !strings.Contains(p, "//")
	for _, r := range p {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("/-_~", r)) {
			ok = false
		}
	}
	if !ok {
		return fmt.Errorf("gateway: prefix %q must look like /sessiond (letters, digits, - _ ~ and /, no trailing slash): %w", p, sessiond.ErrInvalidArgument)
	}
	return nil
}

// Prefix returns the path prefix of the routes.
func (g *Gateway) Prefix() string { return g.prefix }

// ServeHTTP serves the routes under Prefix; anything else under it is 404.
func (g *Gateway) ServeHTTP(w http.ResponseWriter, r *http.Request) { g.mux.ServeHTTP(w, r) }

// NewLoginCode stores the tokens of iss under a new single-use code, valid
// for CodeLifetime, and returns the code and the relative URL the browser
// is sent to (<prefix>/login?code=…), which answers 303 to returnTo
// (default "/"). ErrBadReturnTo, ErrTooManyCodes; a sessiond.ArgumentError
// on claims when the tokens would not fit in a cookie.
func (g *Gateway) NewLoginCode(ctx context.Context, iss *sessiond.Issued, returnTo string) (code sessiond.Secret, loginURL string, err error) {
	if returnTo == "" {
		returnTo = "/"
	}
	if returnTo, err = g.ReturnTo(returnTo); err != nil {
		return "", "", err
	}
	// Refused now, to the backend, rather than at redemption, when the
	// browser could only be told that its login failed.
	if _, err := g.cookies(iss); err != nil {
		return "", "", err
	}
	code, err = g.codes.issue(ctx, &pending{
		Session:     iss.Session,
		AccessToken: string(iss.AccessToken), AccessExpiresAt: iss.AccessExpiresAt,
		RefreshToken: string(iss.RefreshToken), RefreshExpiresAt: iss.RefreshExpiresAt,
		ReturnTo: returnTo,
	})
	if err != nil {
		return "", "", err
	}
	return code, g.prefix + "/login?code=" + string(code), nil
}

// SetCookieValues returns the Set-Cookie header values that start iss in a
// browser, for a backend that relays them itself.
func (g *Gateway) SetCookieValues(iss *sessiond.Issued) ([]string, error) {
	cookies, err := g.cookies(iss)
	if err != nil {
		return nil, err
	}
	out := make([]string, len(cookies))
	for i, c := range cookies {
		out[i] = c.String()
	}
	return out, nil
}

// cookies are the cookies of iss. Tokens too long for a cookie (a JWT
// carries the session's claims, which the API accepts up to
// sessiond.MaxClaimsBytes) are the caller's claims at fault: an
// ArgumentError on claims, which the API answers with 400.
func (g *Gateway) cookies(iss *sessiond.Issued) ([]*http.Cookie, error) {
	cookies, err := g.s.Cookies(iss)
	if errors.Is(err, httpsession.ErrCookieTooLarge) {
		return nil, &sessiond.ArgumentError{Field: "claims",
			Msg: "make a token too long for a browser cookie (" + err.Error() + "); send fewer claims with login_code or set_cookie"}
	}
	return cookies, err
}

// loginURL is the login page with return_to.
func (g *Gateway) loginURL(returnTo string) string {
	u := *g.login
	if returnTo != "" {
		q := u.Query()
		q.Set("return_to", returnTo)
		u.RawQuery = q.Encode()
	}
	return u.String()
}

func methodNotAllowed(w http.ResponseWriter, allow string) {
	w.Header().Set("Allow", allow)
	httpsession.WriteProblem(w, http.StatusMethodNotAllowed, "method_not_allowed", "Method not allowed", "use "+allow)
}
