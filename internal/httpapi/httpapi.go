// Package httpapi is the JSON API of the sessiond server: the routes of
// issue 3, their request and response shapes, the one table that maps
// errors to HTTP statuses and problem codes, and the OpenAPI document that
// describes them (openapi.json, served at /openapi.json).
package httpapi

import (
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/apitype"
	"github.com/sessiond/sessiond/dpop"
	"github.com/sessiond/sessiond/internal/apikey"
	"github.com/sessiond/sessiond/internal/ratelimit"
)

// DefaultMaxBodyBytes is the request body limit when Options.MaxBodyBytes is zero.
const DefaultMaxBodyBytes = 64 << 10

// Options configure the handler. Manager and Authenticate are required.
type Options struct {
	// Manager runs the session lifecycle. Required.
	Manager *sessiond.Manager
	// Authenticate checks the API key of a /v1 or /oauth2 request, sent as
	// `Authorization: Bearer <key>`, and returns the key: its ID, which
	// the request log and every event of the request record, and its
	// scopes, one of which each route requires (403 insufficient_scope
	// otherwise). Any error answers 401 (the cause is logged, never the
	// key), except one matching sessiond.ErrStoreUnavailable, which
	// answers 503 so an outage is not mistaken for a bad key. Required.
	Authenticate func(ctx context.Context, key sessiond.Secret) (apikey.Key, error)
	// JWKS returns the public JWKS document served at
	// /.well-known/jwks.json. Nil when the strategy issues no JWTs: the
	// route then answers 404.
	JWKS func() ([]byte, error)
	// JWKSMaxAge is how long a verifier may cache the JWKS
	// (Cache-Control: public, max-age, in whole seconds; zero: max-age=0).
	// The server gives the shorter of JWKSMaxAge and the key ring's
	// signing.Keys.Lead, so that a cached copy knows a new key before the
	// key signs.
	JWKSMaxAge time.Duration
	// Ready reports whether the server can serve (store ping and the
	// like); /readyz answers 503 store_unavailable while it fails. Nil
	// means always ready.
	Ready func(ctx context.Context) error
	// Logger receives one JSON line per request and the faults (panics
	// with their stack, 5xx causes). Nil discards.
	Logger *slog.Logger
	// LogRequest, if set, is asked whether a request that answered status
	// gets its log line (log.requests: all, errors or a sample); nil logs
	// every request. It must be safe for concurrent use.
	LogRequest func(status int) bool
	// LogIPPrefixes cuts each request line's remote_addr as events cut a
	// client's address (events.ipv4_prefix, events.ipv6_prefix): the
	// port is dropped and the address cut to the network. Zero logs the
	// peer as it is, host and port.
	LogIPPrefixes sessiond.IPPrefixes
	// MaxBodyBytes limits request bodies; larger ones answer 413.
	// Zero means DefaultMaxBodyBytes (64 KiB); negative is an error.
	MaxBodyBytes int64
	// Version is the server's version, served as info.version of
	// /openapi.json. Empty keeps the document's own.
	Version string
	// Events serves GET /v1/events; nil answers 404.
	Events sessiond.EventLog
	// Incident runs the kill switch for POST /v1/revocations and returns
	// how many sessions it revoked; nil answers 404.
	Incident func(ctx context.Context, req IncidentRequest) (int, error)
	// Outbox serves GET /v1/webhooks/deliveries; nil answers 404.
	Outbox sessiond.Outbox
	// Metrics serves GET /metrics (Prometheus); nil answers 404.
	Metrics http.Handler
	// SDK serves GET /sdk/sessiond.js; nil answers 404.
	SDK http.Handler
	// AuthFailed, if set, receives reports of requests refused for a
	// missing or wrong API key (the security event log records them): at
	// most one per client address per AuthFailureInterval, with a count,
	// and at most 100 per interval in all, so unauthenticated clients
	// cannot make the server write without limit.
	AuthFailed func(ctx context.Context, f AuthFailure)
	// AuthFailureInterval is the reporting interval of AuthFailed; zero
	// means DefaultAuthFailureInterval (1 minute).
	AuthFailureInterval time.Duration
	// Clock is the time source (rate limits, reporting intervals); nil
	// means the system clock.
	Clock sessiond.Clock
	// RefreshWithoutClient, if set, is called for every refresh sent
	// without client information (neither client.ip nor
	// client.user_agent), on which device-change detection cannot run.
	// The first one is also logged at WARN, once per process.
	RefreshWithoutClient func()
	// APIKeys serves /v1/api-keys (list, create, set scopes, revoke; admin
	// scope); nil answers 404.
	APIKeys APIKeys
	// APIKeyChanged, if set, is told of every change made through
	// /v1/api-keys: action is created, scopes_changed, revoked,
	// KeyNotReceived or KeyRevokeFailed.
	APIKeyChanged func(ctx context.Context, action string, key apikey.Key)
	// APIKeyRecorder, if set, writes the events of created, scopes_changed,
	// revoked and KeyNotReceived with the key set's own write when the
	// store can (sessiond.MetaChangeRecorder): a store that fails then
	// keeps neither the change nor its event, and the client gets the
	// store's error. APIKeyChanged is told of those it did not write so.
	APIKeyRecorder apikey.Recorder
	// RateLimits bound requests in memory on this node; the zero value
	// limits nothing. Refused requests answer 429 too_many_requests with
	// Retry-After.
	RateLimits RateLimits
	// Handoff, if set, serves login_code and set_cookie in POST
	// /v1/sessions (the browser gateway); nil refuses them.
	Handoff Handoff
	// Browser, if set, serves every path under BrowserPrefix (the browser
	// gateway, e.g. "/sessiond").
	Browser       http.Handler
	BrowserPrefix string
	// BrowserClientIP returns the browser's address, the key of the
	// browser routes' rate limits (browser.go); nil means the
	// connection's peer.
	BrowserClientIP func(*http.Request) string
	// Stream serves the revocation stream and its snapshot
	// (revocationstream.go); nil answers 404.
	Stream *RevocationStream
	// DPoP checks the DPoP proofs relayed to the session routes (dpop.go);
	// nil means a Verifier with defaults: no server nonces, and a jti
	// replay cache in this node's memory (give a shared one for several
	// nodes).
	DPoP *dpop.Verifier
	// SSF serves the Shared Signals transmitter's routes (ssf.go); nil
	// answers 404.
	SSF SSF
	// StoreErrorObserver, if set, is told of each store call the API makes
	// itself (op query_events: GET /v1/events; list_deliveries: GET
	// /v1/webhooks/deliveries) that fails with an error matching
	// sessiond.ErrStoreUnavailable or sessiond.ErrConflict (a lock wait
	// given up: both answer 503); the Manager reports its own calls
	// (sessiond.Options.StoreErrorObserver).
	StoreErrorObserver func(op string, err error)
	// WriteTimeout is the http.Server's WriteTimeout (server.write_timeout).
	// Every request but those long by design (unboundedRoutes) runs under
	// a deadline of RequestDeadline(WriteTimeout), so a store that stops
	// answering (a frozen server, a black-holed network, a long lock) is
	// answered 503 store_unavailable before the server would cut the
	// connection without an answer. Zero sets no deadline.
	WriteTimeout time.Duration
	// Receivers are the Shared Signals push endpoints (ssf.receivers[].path,
	// an exact path, to its receiver). They are served ahead of the routes,
	// with the request log, the security headers and the per-address rate
	// limit; the receiver answers for itself (RFC 8935).
	Receivers map[string]http.Handler
}

// RateLimits are the request limits of the API: token buckets per key
// (see ratelimit.Options; a zero Rate disables one), whose Clock is
// Options.Clock, and a bound on open revocation streams per API key.
type RateLimits struct {
	// AuthFailures: failed API-key authentications per client address
	// (the connection's peer). Over it, such requests answer 429 instead
	// of 401. The browser routes count, in buckets of their own per
	// browser address, the credentials they refuse as invalid or unknown
	// (browser.go).
	AuthFailures ratelimit.Options
	// PerAPIKey: requests per API key to create, verify and refresh.
	PerAPIKey ratelimit.Options
	// PerClientIP: requests per client address (the connection's peer)
	// to create, verify and refresh; and, in buckets of their own, to the
	// browser routes per browser address (browser.go).
	PerClientIP ratelimit.Options
	// StreamsPerAPIKey: revocation streams (GET /v1/revocations/stream)
	// one API key holds open at once on this node, admin keys included
	// (streamlimit.go). Past it a new stream answers 429
	// too_many_requests with Retry-After. Zero limits nothing.
	StreamsPerAPIKey int
}

// authMode says how a route authenticates and how it reports failure.
type authMode uint8

const (
	authNone   authMode = iota // public
	authAPIKey                 // API key; failures as problem+json `unauthorized`
	authClient                 // API key; failures as RFC 6749 §5.2 `invalid_client`
)

// route is one entry of the routing table. New registers exactly these
// patterns, and a test compares them with the paths of openapi.json.
type route struct {
	pattern string // Go ServeMux pattern: "METHOD /path/{wildcard}"
	auth    authMode
	scope   apikey.Scope // the key's scope the route requires; "" when public
	handle  func(*server, http.ResponseWriter, *http.Request) error
	limited bool // RateLimits.PerAPIKey and PerClientIP apply
}

// Scopes: reading a token's validity is verify; whatever issues or ends
// tokens is sessions:write; the kill switch, keys and webhooks are admin.
const (
	scopeVerify = apikey.ScopeVerify
	scopeRead   = apikey.ScopeSessionsRead
	scopeWrite  = apikey.ScopeSessionsWrite
	scopeEvents = apikey.ScopeEventsRead
	scopeAdmin  = apikey.ScopeAdmin
	scopeSSF    = apikey.ScopeSSF
)

var routes = []route{
	{"POST /v1/sessions", authAPIKey, scopeWrite, (*server).createSession, true},
	{"POST /v1/sessions/verify", authAPIKey, scopeVerify, (*server).verifySession, true},
	{"POST /v1/sessions/refresh", authAPIKey, scopeWrite, (*server).refreshSession, true},
	{"POST /v1/sessions/{id}/rotate", authAPIKey, scopeWrite, (*server).rotateSession, false},
	{"GET /v1/sessions/{id}", authAPIKey, scopeRead, (*server).getSession, false},
	{"DELETE /v1/sessions/{id}", authAPIKey, scopeWrite, (*server).revokeSession, false},
	{"GET /v1/subjects/{subject}/sessions", authAPIKey, scopeRead, (*server).listSessions, false},
	{"DELETE /v1/subjects/{subject}/sessions", authAPIKey, scopeWrite, (*server).revokeSubject, false},
	{"POST /oauth2/revoke", authClient, scopeWrite, (*server).oauthRevoke, false},
	{"POST /oauth2/introspect", authClient, scopeVerify, (*server).oauthIntrospect, true},
	{"GET /.well-known/jwks.json", authNone, "", (*server).jwks, false},
	{"GET /healthz", authNone, "", (*server).healthz, false},
	{"GET /readyz", authNone, "", (*server).readyz, false},
	{"GET /openapi.json", authNone, "", (*server).openapi, false},
	{"GET /v1/events", authAPIKey, scopeEvents, (*server).listEvents, false},
	{"POST /v1/revocations", authAPIKey, scopeAdmin, (*server).incident, false},
	{"GET /v1/webhooks/deliveries", authAPIKey, scopeAdmin, (*server).listDeliveries, false},
	{"GET /metrics", authNone, "", (*server).metrics, false},
	{"GET /sdk/sessiond.js", authNone, "", (*server).sdk, false},
	{"GET /v1/api-keys", authAPIKey, scopeAdmin, (*server).listAPIKeys, false},
	{"POST /v1/api-keys", authAPIKey, scopeAdmin, (*server).createAPIKey, false},
	{"PUT /v1/api-keys/{id}/scopes", authAPIKey, scopeAdmin, (*server).setAPIKeyScopes, false},
	{"DELETE /v1/api-keys/{id}", authAPIKey, scopeAdmin, (*server).revokeAPIKey, false},
	{"GET /v1/revocations/stream", authAPIKey, scopeVerify, (*server).revocationStream, false},
	{"GET /v1/revocations/snapshot", authAPIKey, scopeVerify, (*server).revocationSnapshot, false},
	{"GET /.well-known/ssf-configuration", authNone, "", (*server).ssfConfiguration, true},
	{"GET /v1/ssf/streams", authAPIKey, scopeSSF, (*server).ssfManage, true},
	{"POST /v1/ssf/streams", authAPIKey, scopeSSF, (*server).ssfManage, true},
	{"PUT /v1/ssf/streams", authAPIKey, scopeSSF, (*server).ssfManage, true},
	{"PATCH /v1/ssf/streams", authAPIKey, scopeSSF, (*server).ssfManage, true},
	{"DELETE /v1/ssf/streams", authAPIKey, scopeSSF, (*server).ssfManage, true},
	{"GET /v1/ssf/status", authAPIKey, scopeSSF, (*server).ssfManage, true},
	{"POST /v1/ssf/status", authAPIKey, scopeSSF, (*server).ssfManage, true},
	{"POST /v1/ssf/verify", authAPIKey, scopeSSF, (*server).ssfManage, true},
	{"POST /v1/ssf/subjects/add", authAPIKey, scopeSSF, (*server).ssfManage, true},
	{"POST /v1/ssf/subjects/remove", authAPIKey, scopeSSF, (*server).ssfManage, true},
	{"POST /v1/ssf/poll/{stream_id}", authAPIKey, scopeSSF, (*server).ssfManage, true},
}

//go:embed openapi.json
var openapiDoc []byte

// server is the handler New returns. It is safe for concurrent use.
type server struct {
	m        *sessiond.Manager
	auth     func(context.Context, sessiond.Secret) (apikey.Key, error)
	jwksFn   func() ([]byte, error)
	jwksAge  time.Duration // Options.JWKSMaxAge
	readyFn  func(context.Context) error
	log      *slog.Logger
	logReq   func(status int) bool
	logIP    sessiond.IPPrefixes
	maxBody  int64
	doc      []byte              // openapi.json as served
	params   map[string][]string // route pattern → the query parameters it takes (queryparams.go)
	patterns []string            // as registered on the ServeMux, in order
	next     http.Handler

	events       sessiond.EventLog
	incidentFn   func(context.Context, IncidentRequest) (int, error)
	outbox       sessiond.Outbox
	storeErr     func(op string, err error) // Options.StoreErrorObserver; nil: nobody is told
	bound        time.Duration              // RequestDeadline(Options.WriteTimeout); 0: none
	writeTimeout time.Duration              // Options.WriteTimeout
	metricsH     http.Handler
	sdkH         http.Handler
	handoff      Handoff
	stream       *RevocationStream
	ssf          SSF
	dpop         *dpop.Verifier
	clock        sessiond.Clock
	authFails    *authFailures
	apiKeys      APIKeys
	onKeyChange  func(context.Context, string, apikey.Key)
	keyRecorder  apikey.Recorder
	noClient     func()
	noClientOnce sync.Once
	failLimit    *ratelimit.Limiter // per address, failed authentications
	keyLimit     *ratelimit.Limiter // per API key, limited routes
	ipLimit      *ratelimit.Limiter // per address, limited routes
	browserLimit *ratelimit.Limiter // per browser address, the browser routes
	browserFails *ratelimit.Limiter // per browser address, refused browser credentials
	streams      *streamLimit       // open revocation streams per API key
}

// storeCall tells Options.StoreErrorObserver of op, a store call the API
// makes itself, when err says the store is unavailable or gave up on a
// conflict (both answered 503, as the Manager's calls report them), and
// returns err as it is.
func (s *server) storeCall(op string, err error) error {
	if err != nil && s.storeErr != nil && (errors.Is(err, sessiond.ErrStoreUnavailable) || errors.Is(err, sessiond.ErrConflict)) {
		s.storeErr(op, err)
	}
	return err
}

// New returns the API handler. It is safe for concurrent use. The caller
// (cmd/sessiond) owns the http.Server and its timeouts.
func New(opts Options) (http.Handler, error) {
	switch {
	case opts.Manager == nil:
		return nil, fmt.Errorf("httpapi: new: %w", &sessiond.ArgumentError{Field: "Manager", Msg: "is required"})
	case opts.Authenticate == nil:
		return nil, fmt.Errorf("httpapi: new: %w", &sessiond.ArgumentError{Field: "Authenticate", Msg: "is required"})
	case opts.MaxBodyBytes < 0:
		return nil, fmt.Errorf("httpapi: new: %w", &sessiond.ArgumentError{Field: "MaxBodyBytes", Msg: "must not be negative"})
	case opts.RateLimits.StreamsPerAPIKey < 0:
		return nil, fmt.Errorf("httpapi: new: %w", &sessiond.ArgumentError{Field: "RateLimits.StreamsPerAPIKey", Msg: "must not be negative"})
	}
	if err := opts.Stream.validate(); err != nil {
		return nil, err
	}
	s := &server{
		m:       opts.Manager,
		auth:    opts.Authenticate,
		jwksFn:  opts.JWKS,
		jwksAge: opts.JWKSMaxAge,
		readyFn: opts.Ready,
		log:     opts.Logger,
		logReq:  opts.LogRequest,
		logIP:   opts.LogIPPrefixes,
		maxBody: opts.MaxBodyBytes,

		events:       opts.Events,
		incidentFn:   opts.Incident,
		outbox:       opts.Outbox,
		storeErr:     opts.StoreErrorObserver,
		bound:        RequestDeadline(opts.WriteTimeout),
		writeTimeout: opts.WriteTimeout,
		metricsH:     opts.Metrics,
		sdkH:         opts.SDK,
		handoff:      opts.Handoff,
		stream:       opts.Stream,
		ssf:          opts.SSF,
		clock:        opts.Clock,
		noClient:     opts.RefreshWithoutClient,
		apiKeys:      opts.APIKeys,
		onKeyChange:  opts.APIKeyChanged,
		keyRecorder:  opts.APIKeyRecorder,
		authFails:    &authFailures{interval: opts.AuthFailureInterval, report: opts.AuthFailed, byIP: map[string]*authTrack{}},
	}
	if s.clock == nil {
		s.clock = sessiond.SystemClock{}
	}
	var err error
	if s.dpop, err = newDPoP(opts.DPoP, s.clock); err != nil {
		return nil, err
	}
	if s.authFails.interval <= 0 {
		s.authFails.interval = DefaultAuthFailureInterval
	}
	limiter := func(o ratelimit.Options) *ratelimit.Limiter {
		if o.Rate <= 0 {
			return nil
		}
		o.Clock = s.clock
		return ratelimit.New(o)
	}
	s.failLimit = limiter(opts.RateLimits.AuthFailures)
	s.keyLimit = limiter(opts.RateLimits.PerAPIKey)
	s.ipLimit = limiter(opts.RateLimits.PerClientIP)
	s.browserLimit = limiter(opts.RateLimits.PerClientIP)
	s.browserFails = limiter(opts.RateLimits.AuthFailures)
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	s.streams = newStreamLimit(opts.RateLimits.StreamsPerAPIKey, s.clock, s.log)
	if s.maxBody == 0 {
		s.maxBody = DefaultMaxBodyBytes
	}
	doc, err := documentWithVersion(openapiDoc, opts.Version)
	if err != nil {
		return nil, fmt.Errorf("httpapi: new: openapi document: %w", err)
	}
	s.doc = doc
	if s.params, err = routeQueryParams(openapiDoc); err != nil {
		return nil, fmt.Errorf("httpapi: new: openapi document: %w", err)
	}

	// The mux's own 404 and 405 replies are plain text; a catch-all routes
	// every unmatched request to fallback, which answers with problems.
	mux := http.NewServeMux()
	allowed := make(map[string][]string) // path → methods
	var ssfOff []string                  // the transmitter's paths, when it is off
	for _, rt := range routes {
		if rt.auth != authNone && rt.scope == "" {
			panic("httpapi: route " + rt.pattern + " declares no scope")
		}
		method, path, _ := strings.Cut(rt.pattern, " ")
		s.patterns = append(s.patterns, rt.pattern)
		if s.ssf == nil && ssfPath(path) {
			mux.Handle(rt.pattern, s.ssfOff())
			if !slices.Contains(ssfOff, path) {
				ssfOff = append(ssfOff, path)
			}
			continue
		}
		mux.Handle(rt.pattern, s.wrap(rt))
		allowed[path] = append(allowed[path], method)
	}
	s.shadowed(mux, allowed)
	// Without a transmitter its routes do not exist: every method on
	// their paths is a 404, not a 405 listing the methods of routes that
	// are not there.
	for _, path := range ssfOff {
		mux.Handle(path, s.ssfOff())
	}
	s.mountBrowser(mux, opts)
	mux.Handle("/", s.fallback(allowed))
	s.next = s.middleware(s.receivers(opts.Receivers, mux))
	return s, nil
}

func (s *server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.next.ServeHTTP(w, r) }

// wrap turns a route into a handler: it records the pattern for the
// request log, authenticates, runs the route and answers its error, in
// RFC 6749 form on the /oauth2 routes and as a problem elsewhere.
func (s *server) wrap(rt route) http.Handler {
	unbounded := unboundedRoutes[rt.pattern] // looked up once, not per request
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		info := infoFrom(r.Context())
		info.pattern, info.oauth = r.Pattern, rt.auth == authClient
		if unbounded && info.unbounded != nil {
			r = r.WithContext(info.unbounded)
		}
		var err error
		if rt.auth != authNone {
			err = s.authenticate(w, r, rt.scope)
		}
		if err == nil && rt.limited {
			err = s.rateLimit(w, r)
		}
		if err == nil && r.URL.RawQuery != "" && rt.auth != authNone {
			err = checkQuery(r.URL.RawQuery, s.params[rt.pattern])
		}
		if err == nil {
			err = rt.handle(s, w, r)
		}
		err = storeDeadline(r.Context(), err)
		switch {
		case err == nil:
		case info.oauth:
			s.writeOAuthError(w, r, err)
		default:
			s.writeError(w, r, err)
		}
	})
}

// shadowed answers 405 on a literal route path for the methods a wildcard
// route of that method would otherwise take: "GET /v1/sessions/{id}"
// matches GET /v1/sessions/verify, which must not read as a session ID.
func (s *server) shadowed(mux *http.ServeMux, allowed map[string][]string) {
	var methods []string
	for _, rt := range routes {
		if m, _, _ := strings.Cut(rt.pattern, " "); !slices.Contains(methods, m) {
			methods = append(methods, m)
		}
	}
	for path, own := range allowed {
		if strings.Contains(path, "{") {
			continue
		}
		for _, m := range methods {
			if slices.Contains(own, m) {
				continue
			}
			r := &http.Request{Method: m, URL: &url.URL{Path: path}, Host: "x"}
			if _, pattern := mux.Handler(r); pattern == "" || strings.HasSuffix(pattern, " "+path) {
				continue // nothing takes it, or the fallback will
			}
			allow := strings.Join(own, ", ")
			mux.HandleFunc(m+" "+path, func(w http.ResponseWriter, r *http.Request) {
				infoFrom(r.Context()).pattern = r.Pattern
				w.Header().Set("Allow", allow)
				s.writeError(w, r, &requestError{status: http.StatusMethodNotAllowed, code: apitype.CodeInvalidRequest,
					detail: "method not allowed; allowed: " + allow})
			})
		}
	}
}

// fallback answers requests no route matched: 405 with Allow when the path
// exists under other methods, else 404.
func (s *server) fallback(allowed map[string][]string) http.Handler {
	paths := http.NewServeMux()
	for path, methods := range allowed {
		if slices.Contains(methods, http.MethodGet) {
			methods = append(methods, http.MethodHead)
		}
		slices.Sort(methods)
		allow := strings.Join(methods, ", ")
		paths.HandleFunc(path, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Allow", allow)
			s.writeError(w, r, &requestError{status: http.StatusMethodNotAllowed, code: apitype.CodeInvalidRequest,
				detail: "method not allowed; allowed: " + allow})
		})
	}
	paths.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		s.writeError(w, r, &requestError{status: http.StatusNotFound, code: apitype.CodeNotFound, detail: "no such route"})
	})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		infoFrom(r.Context()).pattern = r.Pattern // "/": the raw path is never logged
		paths.ServeHTTP(w, r)
	})
}

// Fallback returns the handler that another listener serving a few of
// api's routes (the admin listener) mounts at "/", so that what none of
// its routes takes is answered as api answers it: 405 with Allow when
// allowed (path → methods, as ServeMux patterns: GET takes HEAD too) has
// the path, else 404, each a problem document with api's security
// headers, request ID and request log line. api must come from New.
func Fallback(api http.Handler, allowed map[string][]string) http.Handler {
	s, ok := api.(*server)
	if !ok {
		panic("httpapi: Fallback of a handler New did not make")
	}
	own := make(map[string][]string, len(allowed))
	for path, methods := range allowed {
		own[path] = slices.Clone(methods) // fallback sorts and appends
	}
	return s.middleware(s.fallback(own))
}

// documentWithVersion returns doc with info.version set to version (doc
// itself when version is empty).
func documentWithVersion(doc []byte, version string) ([]byte, error) {
	if version == "" {
		return doc, nil
	}
	var top map[string]json.RawMessage
	if err := json.Unmarshal(doc, &top); err != nil {
		return nil, err
	}
	var info map[string]json.RawMessage
	if err := json.Unmarshal(top["info"], &info); err != nil {
		return nil, err
	}
	if info == nil {
		return nil, errors.New("no info object")
	}
	v, _ := json.Marshal(version)
	info["version"] = v
	top["info"], _ = json.Marshal(info)
	return json.MarshalIndent(top, "", "  ")
}
