// Package httpsession is net/http middleware for Go apps that embed
// sessiond: it carries the session in hardened cookies (or an Authorization:
// Bearer header for API clients), verifies it on every request, logs users
// in without session fixation, refreshes, logs out, and refuses
// cross-origin state changes (CSRF).
//
// It works with any router that takes an http.Handler. See docs/browser.md.
package httpsession

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"net/textproto"
	"strings"
	"time"

	"github.com/sessiond/sessiond"
)

// Default cookie names and refresh path.
const (
	DefaultCookieName        = "__Host-sessiond"
	DefaultRefreshCookieName = "__Secure-sessiond-refresh"
	DefaultRefreshPath       = "/auth/refresh"
)

const (
	hostPrefix   = "__Host-"
	securePrefix = "__Secure-"
)

// ErrNoCredentials: the request carries neither the session cookie nor an
// Authorization: Bearer header (or, for Refresh, no refresh cookie).
var ErrNoCredentials = errors.New("httpsession: no session credentials")

// ErrKeyProofRequired: the credential verified, but its session is bound
// to a DPoP key and only a request with a proof from that key may use it;
// httpsession checks no proofs. It matches sessiond.ErrInvalidToken too.
var ErrKeyProofRequired = fmt.Errorf("httpsession: session bound to a DPoP key needs a proof of possession: %w", sessiond.ErrInvalidToken)

// checkKeyBinding refuses a session bound to a DPoP key (cnf.jkt,
// sessiond.Session.KeyThumbprint): httpsession reads tokens from a cookie
// or a plain Bearer header and checks no proof, so taking a bound token
// here would let whoever stole it use it without the key.
func checkKeyBinding(sess *sessiond.Session) error {
	if sess.KeyThumbprint() != "" {
		return ErrKeyProofRequired
	}
	return nil
}

// ErrCookieTooLarge: a token would make a cookie longer than the 4096 bytes
// browsers keep (RFC 6265bis §5.6); the browser would silently drop it.
// Usually too many custom claims in a JWT strategy.
var ErrCookieTooLarge = errors.New("httpsession: cookie larger than 4096 bytes")

// ErrReauthenticationRequired: the session is valid but its user
// authenticated longer ago than RequireRecentAuth allows; they must log in
// again (which starts a new session) before going on.
var ErrReauthenticationRequired = errors.New("httpsession: a more recent authentication is required")

// StoreFailure reports whether err is the store not deciding: it did not
// answer (sessiond.ErrStoreUnavailable) or gave up on a lost race
// (sessiond.ErrConflict: a lock wait timed out, a serialization failure).
// Nothing changed and the same request may succeed, so the browser's
// cookies are kept and the answer is 503, never the 401 that sends a user
// to the login page.
func StoreFailure(err error) bool {
	return errors.Is(err, sessiond.ErrStoreUnavailable) || errors.Is(err, sessiond.ErrConflict)
}

// reauthError is ErrReauthenticationRequired with the age allowed, for
// the challenge's max_age (RFC 9470).
type reauthError struct{ maxAge time.Duration }

func (e *reauthError) Error() string        { return ErrReauthenticationRequired.Error() }
func (e *reauthError) Is(target error) bool { return target == ErrReauthenticationRequired }

// Options configure Sessions. Zero values take the documented defaults.
type Options struct {
	// Manager is required.
	Manager *sessiond.Manager
	// CookieName of the access (database: session) token cookie. Default
	// "__Host-sessiond". The prefix makes the browser insist on Secure,
	// Path=/ and no Domain, so a sibling subdomain or a plain-HTTP
	// response cannot plant or overwrite it.
	CookieName string
	// RefreshCookieName of the refresh token cookie (jwt and hybrid).
	// Default "__Secure-sessiond-refresh" (__Host- would force Path=/).
	RefreshCookieName string
	// RefreshPath is the refresh cookie's Path: the browser sends the
	// refresh token to the refresh endpoint only. Default "/auth/refresh".
	// Mount RefreshHandler there.
	RefreshPath string
	// CookiePath is the access cookie's Path. Default "/". A __Host- name
	// needs "/".
	CookiePath string
	// Domain, if set, is the Domain attribute of both cookies, which sends
	// them to every subdomain too. Default none: the cookies stay on this
	// host. A __Host- name refuses it.
	Domain string
	// MaxAge, if positive, caps both cookies' Max-Age. Default: each cookie
	// lives as long as the token it carries (see SetCookies).
	MaxAge time.Duration
	// SameSite of both cookies: Lax (default) or Strict. None is refused
	// together with InsecureDevCookies (browsers reject it without Secure).
	SameSite http.SameSite
	// InsecureDevCookies drops Secure and the __Host-/__Secure- prefixes
	// (browsers refuse prefixed cookies without Secure) for plain-HTTP local
	// development. New logs a warning; never set it in production.
	InsecureDevCookies bool
	// Unauthenticated answers a request that Require turned away. Default:
	// 401 with a JSON problem document. RedirectTo sends browser
	// navigations to a login page instead.
	Unauthenticated func(w http.ResponseWriter, r *http.Request, err error)
	// TrustedOrigins may send unsafe-method requests besides the app's own
	// origin (CSRF), e.g. "https://admin.example.com".
	TrustedOrigins []string
	// ClientIP returns the IP address recorded for a request. Default: the
	// host of r.RemoteAddr. Set it when the app runs behind a proxy you
	// trust to report the client address.
	ClientIP func(r *http.Request) string
	// DBSC configures Device Bound Session Credentials; off by default.
	// It needs the database or hybrid strategy.
	DBSC DBSCOptions
	// Logger; nil discards.
	Logger *slog.Logger
}

// Sessions is the middleware. It is safe for concurrent use.
type Sessions struct {
	m           *sessiond.Manager
	access      cookieSpec
	refresh     cookieSpec
	refreshPath string
	domain      string
	maxAge      time.Duration
	sameSite    http.SameSite
	secure      bool
	unauth      func(w http.ResponseWriter, r *http.Request, err error)
	cop         *http.CrossOriginProtection
	clientIP    func(r *http.Request) string
	dbsc        *dbsc // nil when DBSC is off
	log         *slog.Logger
}

// cookieSpec is what identifies a cookie to the browser: Set-Cookie for
// the same name and path replaces (or, with Max-Age=0, deletes) it.
type cookieSpec struct {
	name string
	path string
}

// New checks opts and returns the middleware.
func New(opts Options) (*Sessions, error) {
	if opts.Manager == nil {
		return nil, fmt.Errorf("httpsession: Options.Manager is required: %w", sessiond.ErrInvalidArgument)
	}
	s := &Sessions{
		m:           opts.Manager,
		access:      cookieSpec{name: opts.CookieName, path: opts.CookiePath},
		refresh:     cookieSpec{name: opts.RefreshCookieName, path: opts.RefreshPath},
		refreshPath: opts.RefreshPath,
		domain:      opts.Domain,
		maxAge:      opts.MaxAge,
		sameSite:    opts.SameSite,
		secure:      !opts.InsecureDevCookies,
		unauth:      opts.Unauthenticated,
		clientIP:    opts.ClientIP,
		log:         opts.Logger,
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.access.name == "" {
		s.access.name = DefaultCookieName
	}
	if s.refresh.name == "" {
		s.refresh.name = DefaultRefreshCookieName
	}
	if s.access.path == "" {
		s.access.path = "/"
	}
	if s.refreshPath == "" {
		s.refreshPath = DefaultRefreshPath
		s.refresh.path = DefaultRefreshPath
	}
	if s.unauth == nil {
		s.unauth = writeUnauthorized
	}
	if s.clientIP == nil {
		s.clientIP = remoteIP
	}
	switch s.sameSite {
	case 0, http.SameSiteDefaultMode:
		// Never leave it to the browser's default (checklist 16).
		s.sameSite = http.SameSiteLaxMode
	case http.SameSiteLaxMode, http.SameSiteStrictMode:
	case http.SameSiteNoneMode:
		if !s.secure {
			return nil, fmt.Errorf("httpsession: SameSite=None needs Secure cookies, so not InsecureDevCookies: %w", sessiond.ErrInvalidArgument)
		}
	default:
		return nil, fmt.Errorf("httpsession: unknown SameSite value %d: %w", s.sameSite, sessiond.ErrInvalidArgument)
	}
	if !s.secure {
		s.access.name = stripPrefix(s.access.name)
		s.refresh.name = stripPrefix(s.refresh.name)
	}
	for what, p := range map[string]string{"RefreshPath": s.refreshPath, "CookiePath": s.access.path} {
		if !strings.HasPrefix(p, "/") || strings.ContainsAny(p, ";\x7f") || strings.ContainsFunc(p, func(r rune) bool { return r < 0x20 }) {
			return nil, fmt.Errorf("httpsession: %s %q must be an absolute URL path: %w", what, p, sessiond.ErrInvalidArgument)
		}
	}
	if s.maxAge < 0 {
		return nil, fmt.Errorf("httpsession: MaxAge must not be negative: %w", sessiond.ErrInvalidArgument)
	}
	for _, c := range []cookieSpec{s.access, s.refresh} {
		if err := (&http.Cookie{Name: c.name, Value: "x", Path: c.path, Domain: s.domain}).Valid(); err != nil {
			return nil, fmt.Errorf("httpsession: cookie %q: %v: %w", c.name, err, sessiond.ErrInvalidArgument)
		}
		// RFC 6265bis §4.1.3.2: the browser drops a __Host- cookie with a
		// Domain or a Path other than "/".
		if hasPrefixFold(c.name, hostPrefix) && (s.domain != "" || c.path != "/") && c != s.refresh {
			return nil, fmt.Errorf("httpsession: cookie %q has the __Host- prefix, which needs Path=/ and no Domain: %w", c.name, sessiond.ErrInvalidArgument)
		}
	}
	if strings.EqualFold(s.access.name, s.refresh.name) {
		return nil, fmt.Errorf("httpsession: CookieName and RefreshCookieName are both %q: %w", s.access.name, sessiond.ErrInvalidArgument)
	}
	// RFC 6265bis §4.1.3.2: the browser drops a __Host- cookie whose Path
	// is not "/" (the prefix matches whatever its case).
	if hasPrefixFold(s.refresh.name, hostPrefix) && (s.refresh.path != "/" || s.domain != "") {
		return nil, fmt.Errorf("httpsession: RefreshCookieName %q has the __Host- prefix, which needs Path=/ and no Domain, but RefreshPath is %q (use __Secure-): %w",
			s.refresh.name, s.refresh.path, sessiond.ErrInvalidArgument)
	}
	var err error
	if s.dbsc, err = newDBSC(opts.DBSC, s.secure, s.domain, s.m.Strategy()); err != nil {
		return nil, err
	}
	if s.dbsc != nil {
		for _, n := range []string{s.access.name, s.refresh.name} {
			if strings.EqualFold(n, s.dbsc.cookie.name) {
				return nil, fmt.Errorf("httpsession: the bound cookie and a session cookie are both %q: %w", n, sessiond.ErrInvalidArgument)
			}
		}
	}
	s.cop = http.NewCrossOriginProtection()
	for _, o := range opts.TrustedOrigins {
		if err := s.cop.AddTrustedOrigin(o); err != nil {
			return nil, fmt.Errorf("httpsession: trusted origin: %v: %w", err, sessiond.ErrInvalidArgument)
		}
	}
	s.cop.SetDenyHandler(http.HandlerFunc(s.denyCrossOrigin))
	if !s.secure {
		s.log.Warn("httpsession: INSECURE DEV COOKIES: session cookies lack Secure and the __Host-/__Secure- prefixes and travel over plain HTTP; for local development only, never in production",
			"cookie", s.access.name, "refresh_cookie", s.refresh.name)
	}
	return s, nil
}

func stripPrefix(name string) string {
	for _, p := range []string{hostPrefix, securePrefix} {
		if hasPrefixFold(name, p) {
			return name[len(p):]
		}
	}
	return name
}

func hasPrefixFold(s, prefix string) bool {
	return len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix)
}

// CookieName returns the name of the access (session) cookie in effect.
func (s *Sessions) CookieName() string { return s.access.name }

// RefreshCookieName returns the name of the refresh cookie in effect.
func (s *Sessions) RefreshCookieName() string { return s.refresh.name }

// Manager returns the Manager the middleware uses.
func (s *Sessions) Manager() *sessiond.Manager { return s.m }

// Client describes the request's client as the Manager records it: the IP
// from Options.ClientIP and the User-Agent.
func (s *Sessions) Client(r *http.Request) sessiond.Client {
	c := sessiond.Client{UserAgent: r.UserAgent()}
	ip := s.clientIP(r)
	if a, err := netip.ParseAddr(ip); err == nil {
		if a.Is4() {
			c.IP = ip // ParseAddr takes IPv4 only in its canonical form (no leading zeros): as String would write it
		} else {
			c.IP = a.Unmap().String()
		}
	}
	return c
}

func remoteIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// credential returns the access token the request carries: from the
// Authorization: Bearer header if there is one, else from the access
// cookie, matched by its exact name (a "__host-sessiond" cookie is not
// "__Host-sessiond": checklist 13). Tokens in the URL or a form are never
// read (checklist 8).
func (s *Sessions) credential(r *http.Request) (sessiond.Secret, error) {
	switch hs := r.Header.Values("Authorization"); len(hs) {
	case 0:
	case 1:
		scheme, tok, _ := strings.Cut(strings.TrimSpace(hs[0]), " ")
		if strings.EqualFold(scheme, "Bearer") {
			tok = strings.TrimSpace(tok)
			if tok == "" {
				return "", fmt.Errorf("httpsession: empty bearer token: %w", sessiond.ErrInvalidToken)
			}
			return sessiond.Secret(tok), nil
		}
		// Another scheme (Basic to a proxy, say) is not ours to judge.
	default:
		return "", fmt.Errorf("httpsession: several Authorization headers: %w", sessiond.ErrInvalidToken)
	}
	return cookieValue(r, s.access.name)
}

func cookieValue(r *http.Request, name string) (sessiond.Secret, error) {
	// With a __Host-/__Secure- name the browser guarantees a single cookie
	// of that name; the first is the one with the longest path otherwise.
	v, ok := firstCookie(r.Header["Cookie"], name)
	if !ok {
		c, err := r.Cookie(name)
		if err != nil {
			return "", ErrNoCredentials
		}
		v = c.Value
	}
	if v == "" {
		return "", ErrNoCredentials
	}
	return sessiond.Secret(v), nil
}

// firstCookie is r.Cookie(name).Value without parsing every cookie into
// a new slice (checks and verifies are the busiest requests). It reports
// false when it cannot tell as surely as net/http: no cookie of that name
// among a few dozen, a quoted value, a value net/http would skip (then a
// later cookie of the name counts), or more cookies than net/http reads.
func firstCookie(lines []string, name string) (string, bool) {
	n := 0
	for _, line := range lines {
		n += strings.Count(line, ";") + 1
	}
	if n > 50 {
		return "", false // net/http caps the count; let it decide
	}
	for _, line := range lines {
		for line != "" {
			var part string
			part, line, _ = strings.Cut(line, ";")
			part = textproto.TrimString(part)
			k, v, _ := strings.Cut(part, "=")
			if textproto.TrimString(k) != name {
				continue
			}
			for i := 0; i < len(v); i++ {
				if c := v[i]; c < 0x20 || c >= 0x7f || c == '"' || c == ';' || c == '\\' {
					return "", false // quoted or invalid: net/http's rules decide
				}
			}
			return v, true
		}
	}
	return "", false
}

// authenticate verifies the request's credential.
func (s *Sessions) authenticate(r *http.Request) (*sessiond.Session, error) {
	v, err := s.Inspect(r)
	if err != nil {
		return nil, err
	}
	return &v.Session, nil
}

// bindingCheck is what the Manager checks of a session beyond its token,
// before it records the session's activity: a key-bound session is not
// for this middleware, and a device-bound one needs its bound cookie. A
// stolen cookie without the rest keeps no idle session alive.
func (s *Sessions) bindingCheck(r *http.Request) func(*sessiond.Session) error {
	return func(sess *sessiond.Session) error {
		if err := checkKeyBinding(sess); err != nil {
			return err
		}
		return s.checkDevice(r, sess)
	}
}

// Inspect verifies the request's credential (the Authorization: Bearer
// header, else the access cookie) like Require does, and returns what the
// anomaly rules made of it too (sessiond.Manager.Inspect). ErrNoCredentials
// when the request carries neither.
func (s *Sessions) Inspect(r *http.Request) (sessiond.Verification, error) {
	tok, err := s.credential(r)
	if err != nil {
		return sessiond.Verification{}, err
	}
	return s.m.InspectChecked(r.Context(), tok, s.Client(r), s.bindingCheck(r))
}

// Require lets a request through only with a valid session, which it puts
// in the request context (sessiond.FromContext). Otherwise it answers with
// Options.Unauthenticated, or 503 when the store could not be asked.
// Responses default to Cache-Control: no-store; the handler may override.
func (s *Sessions) Require(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		v, err := s.Inspect(r)
		if err != nil {
			if StoreFailure(err) {
				s.log.ErrorContext(r.Context(), "httpsession: verify", "err", err)
				writeProblem(w, http.StatusServiceUnavailable, "store_unavailable", "Service unavailable", "the session store is unavailable; retry later")
				return
			}
			s.log.DebugContext(r.Context(), "httpsession: unauthenticated", "path", r.URL.Path, "err", err)
			s.unauth(w, r, err)
			return
		}
		serveSession(w, r, next, &v)
	})
}

// RequireRecentAuth is Require for sensitive actions (a password or e-mail
// change, signing other devices out): it also needs the session's user to
// have authenticated within maxAge, and no step-up asked by the anomaly
// rules for this request (StepUpRequired: a session replayed from another
// browser, say). The time is the session's CreatedAt, which Login sets
// and Rotate keeps. Otherwise the request gets the
// Unauthenticated handler with ErrReauthenticationRequired; by default a
// 401 with the RFC 9470 challenge `Bearer
// error="insufficient_user_authentication", max_age="…"` and problem code
// reauthentication_required (RedirectTo sends a page navigation to the
// login page instead). OWASP ASVS 7.5.1-7.5.3.
func (s *Sessions) RequireRecentAuth(maxAge time.Duration, next http.Handler) http.Handler {
	return s.Require(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sess, _ := sessiond.FromContext(r.Context())
		if StepUpRequired(r.Context()) || s.m.Now().Sub(sess.CreatedAt) > maxAge {
			s.unauth(w, r, &reauthError{maxAge: maxAge})
			return
		}
		next.ServeHTTP(w, r)
	}))
}

// Optional puts the session in the request context when the request
// carries a valid one, and lets every request through.
func (s *Sessions) Optional(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		v, err := s.Inspect(r)
		if err != nil {
			if StoreFailure(err) {
				s.log.WarnContext(r.Context(), "httpsession: verify; serving anonymously", "err", err)
			}
			next.ServeHTTP(w, r)
			return
		}
		serveSession(w, r, next, &v)
	})
}

// serveSession passes the request on with sess in its context. A response
// for a session defaults to Cache-Control: no-store; next may override.
func serveSession(w http.ResponseWriter, r *http.Request, next http.Handler, v *sessiond.Verification) {
	if w.Header().Get("Cache-Control") == "" {
		w.Header().Set("Cache-Control", "no-store")
	}
	ctx := sessiond.NewContext(r.Context(), &v.Session)
	if v.StepUp {
		ctx = context.WithValue(ctx, stepUpKey{}, true)
	}
	next.ServeHTTP(w, r.WithContext(ctx))
}

type stepUpKey struct{}

// StepUpRequired reports whether the anomaly rules asked for a new sign-in
// before anything sensitive on this request (a step_up action: the session
// came back from another browser, say), as Require and Optional found it.
// The session stays valid for the rest; RequireRecentAuth refuses it.
func StepUpRequired(ctx context.Context) bool {
	up, _ := ctx.Value(stepUpKey{}).(bool)
	return up
}
