// Package verifier checks sessiond access tokens inside another service
// (a resource server): signature and claims locally against the JWKS, and
// revocation locally against a revoked set and incident watermarks that it
// keeps current by following the server's revocation stream. No call to
// sessiond is made per request.
//
// A Verifier is safe for concurrent use. When the stream has been out of
// reach for longer than Options.MaxStaleness its revocation state may be
// missing revocations; then Verify rejects tokens with ErrStale, unless
// Options.WhenStale says to accept them with a warning.
package verifier

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/dpop"
	"github.com/sessiond/sessiond/internal/loopback"
	"github.com/sessiond/sessiond/verifier/stream"
)

// ErrStale: the revocation state is older than Options.MaxStaleness (the
// stream is down or sent something unreadable), and the policy is to
// reject. It is not a verdict on the token: answer 503, not 401.
var ErrStale = errors.New("verifier: revocation state is stale")

// Verify's other errors match the sessiond sentinels, as the server's do:
// sessiond.ErrInvalidToken (bad shape or signature, unknown key, wrong
// claims, a device-bound session's token: ErrDeviceBound too),
// sessiond.ErrExpired, sessiond.ErrRevoked (revoked session, watermark),
// sessiond.ErrAbsoluteTimeout.

// StalePolicy says what Verify does with a valid token while the
// revocation state is stale.
type StalePolicy uint8

const (
	// RejectWhenStale fails every Verify with ErrStale (the default).
	RejectWhenStale StalePolicy = iota
	// AcceptWhenStale accepts valid tokens, sets Claims.Stale and logs a
	// warning (at most once a minute): availability over revocation.
	AcceptWhenStale
)

// Defaults of the zero Options fields.
const (
	DefaultMaxStaleness       = 30 * time.Second
	DefaultIdleTimeout        = 30 * time.Second
	DefaultMinRefetchInterval = time.Second
	DefaultCacheSize          = 10000
	// DefaultMaxSnapshotEntries is five times the 390,000 revocations at
	// which the 64 MiB cap of earlier versions refused the snapshot.
	DefaultMaxSnapshotEntries = 2_000_000
	DefaultLeeway             = 5 * time.Second
)

// Options configure New. URL, APIKey, Issuer and Audience are required.
type Options struct {
	// URL is the sessiond server's base URL (http or https), e.g.
	// https://sessiond.internal:8420. The JWKS, the snapshot and the
	// stream are read from it.
	URL string
	// APIKey authenticates the snapshot and the stream.
	APIKey sessiond.Secret
	// Issuer and Audience are the iss and aud sessiond signs with
	// (jwt.issuer, jwt.audience of its configuration).
	Issuer   string
	Audience string
	// Leeway is the clock-skew allowance on exp, iat and the session's
	// expiry. Zero: DefaultLeeway (sessiond's default); at most a minute.
	Leeway time.Duration
	// MaxStaleness is how long the revocation state may go without a word
	// from the stream before WhenStale applies. Zero: DefaultMaxStaleness.
	// It should exceed the server's heartbeat interval (10 s) a few times.
	MaxStaleness time.Duration
	// WhenStale is the policy past MaxStaleness; the zero value rejects.
	WhenStale StalePolicy
	// IdleTimeout drops a stream connection on which no word from sessiond
	// (an event or a heartbeat: a block with an id) arrived for this long;
	// a proxy's keep-alive comments do not count. It also drops one whose
	// heartbeats arrive this much further behind the server's log than the
	// connection's fastest one did (a proxy buffering, a congested link),
	// without taking that heartbeat as proof that the state is current.
	// Zero: DefaultIdleTimeout.
	IdleTimeout time.Duration
	// MaxSnapshotEntries bounds the revocations and watermarks a snapshot
	// may hold; a larger one is refused, as from a broken or hostile
	// server (each entry is also at most 64 KiB of JSON). Zero:
	// DefaultMaxSnapshotEntries. About 80 bytes of heap are kept per
	// revocation (docs/verifier.md, "How many revocations a snapshot
	// holds").
	MaxSnapshotEntries int
	// MinRefetchInterval rate-limits JWKS fetches on an unknown kid.
	// Zero: DefaultMinRefetchInterval.
	MinRefetchInterval time.Duration
	// CacheSize bounds the cache of verified tokens (so a repeated token
	// skips the signature check). Zero: DefaultCacheSize; negative: none.
	CacheSize int
	// HTTPClient makes every request. Its Timeout bounds, for the JWKS and
	// the snapshot, the wait for the answer's headers and then the wait
	// for each 4 KiB of its body, or its end (less than that for that long
	// fails the fetch), not the whole transfer: a large snapshot over a
	// slow link loads so long as its bytes keep coming, and a server that
	// trickles a byte now and then is given up. The stream uses its
	// Transport without its Timeout (IdleTimeout bounds it). Nil: a client
	// with a 10-second timeout.
	HTTPClient *http.Client
	// Logger receives connection trouble and the stale warnings. Nil
	// discards.
	Logger *slog.Logger
	// Clock tells the time of token checks and staleness. Nil: the system
	// clock.
	Clock sessiond.Clock
	// DPoP configures the check of DPoP proofs (RFC 9449) for tokens bound
	// to a key (Claims.KeyThumbprint). Its zero value is right for most:
	// the proof algorithms sessiond accepts, proofs up to 5 minutes old,
	// jti replay remembered in this process's memory (a proof replayed to
	// another instance of the service is not caught: set DPoP.Replay to a
	// shared cache for that), no server nonces. DPoP.Clock defaults to
	// Clock.
	DPoP dpop.Options
	// ExternalURL is the scheme and host clients use to reach this service,
	// e.g. https://api.example.com, which Middleware compares with a DPoP
	// proof's htu (plus the request path). Empty: taken from each request
	// (https when it came over TLS, and its Host header), which is wrong
	// behind a proxy that terminates TLS or rewrites Host.
	ExternalURL string
}

// Claims are what a verified access token says.
type Claims struct {
	Subject          string
	SessionID        string
	TokenID          string // jti
	Strategy         string // hybrid or jwt
	IssuedAt         time.Time
	ExpiresAt        time.Time
	AuthTime         time.Time // when the session was created
	SessionExpiresAt time.Time // the session's absolute expiry (sess_exp, which a token must carry)
	Persistent       bool
	// Custom holds the session's custom claims (the ext claim), a JSON
	// object, or nil. Callers must not modify it.
	Custom json.RawMessage
	// Stale is set when the token was accepted although the revocation
	// state was stale (AcceptWhenStale).
	Stale bool
	// KeyThumbprint is the token's cnf.jkt when it is bound to the client's
	// DPoP key; "" when it is not. Verify accepts a bound token only with
	// WithDPoP.
	KeyThumbprint string
	kid           string
}

// Verifier verifies access tokens locally. Safe for concurrent use.
type Verifier struct {
	// opts is behind a pointer so that printing the Verifier (%v, %+v, a
	// slog attribute) shows an address, never Options.APIKey: fmt cannot
	// call Secret's String on a field reached through an unexported one.
	opts    *Options
	base    string        // URL without a trailing slash
	hc      *http.Client  // the JWKS and the snapshot, without a timeout of its own
	timeout time.Duration // HTTPClient's Timeout: for each wait of those (fetch.go)
	stream  *http.Client
	log     *slog.Logger
	clock   sessiond.Clock
	parser  *jwt.Parser
	dpop    *dpop.Verifier

	keys  *keySet
	state *state
	cache *cache

	lastSync  atomic.Int64 // unix ns of the last proof that the state is current
	syncTick  atomic.Int64 // tick at that proof: staleness is measured on ticks
	broken    atomic.Bool  // the stream sent something unreadable since
	lastWarn  atomic.Int64 // tick of the last stale warning; 0: none yet
	connected atomic.Bool
	snapshots atomic.Int64 // snapshots loaded
	cursor    string       // follower goroutine only
	beats     int64        // heartbeats applied; follower goroutine only
	lag       lagMeter     // the connection's heartbeats; follower goroutine only
	// ticks is a clock that only moves forward, in ns; nil: the clock's
	// time. With the system clock it is the process's monotonic clock, so
	// that a wall clock stepped back (NTP, a restored VM) cannot keep a
	// state whose stream is down looking current past MaxStaleness.
	ticks func() int64
	// wait replaces the backoff's timer in tests; nil: a timer.
	wait func(ctx context.Context, d time.Duration) bool

	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// New fetches the JWKS and the revocation snapshot, then follows the
// revocation stream in the background until Close. It fails when the
// options are invalid or either first fetch fails.
func New(ctx context.Context, opts Options) (*Verifier, error) {
	system := opts.Clock == nil
	if err := opts.setDefaults(); err != nil {
		return nil, err
	}
	v := &Verifier{opts: &opts, base: strings.TrimRight(opts.URL, "/"), hc: opts.HTTPClient, log: opts.Logger, clock: opts.Clock}
	if system {
		// SystemClock's times are UTC, which drops their monotonic reading.
		start := time.Now()
		v.ticks = func() int64 { return int64(time.Since(start)) }
	}
	// The timeout bounds each wait of a document (openDocument), not its
	// whole transfer; the stream has IdleTimeout.
	v.timeout = v.hc.Timeout
	docClient := *v.hc
	docClient.Timeout = 0
	v.hc, v.stream = &docClient, &docClient
	v.keys = newKeySet()
	v.state = newState()
	if opts.CacheSize > 0 {
		v.cache = newCache(opts.CacheSize)
	}
	dopts := opts.DPoP
	if dopts.Clock == nil {
		dopts.Clock = v.clock
	}
	var err error
	if v.dpop, err = dpop.New(dopts); err != nil {
		return nil, fmt.Errorf("verifier: %w", err)
	}
	v.parser = jwt.NewParser(
		jwt.WithValidMethods(supportedAlgs),
		jwt.WithIssuer(opts.Issuer),
		jwt.WithAudience(opts.Audience),
		jwt.WithLeeway(opts.Leeway),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithStrictDecoding(),
		jwt.WithTimeFunc(v.clock.Now),
	)
	// Before the first fetch, so that a server not reachable yet is
	// reported too.
	if u, _ := url.Parse(opts.URL); u.Scheme == "http" && !loopback.Host(u.Hostname()) {
		v.log.Warn("verifier: sessiond is reached over plain HTTP: anyone on the network path can read the API key and swap the JWKS for keys of their own, whose tokens this verifier would accept; use https, or a loopback address",
			"host", u.Host)
	}
	if err := v.fetchKeys(ctx); err != nil {
		return nil, err
	}
	if err := v.loadSnapshot(ctx); err != nil {
		return nil, err
	}
	bg, cancel := context.WithCancel(context.Background())
	v.cancel = cancel
	v.wg.Add(1)
	go v.follow(bg)
	return v, nil
}

func (o *Options) setDefaults() error {
	arg := func(field, msg string) error {
		return fmt.Errorf("verifier: %w", &sessiond.ArgumentError{Field: field, Msg: msg})
	}
	u, err := url.Parse(o.URL)
	switch {
	case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "":
		return arg("URL", "must be an http or https base URL without credentials, query or fragment")
	case o.APIKey == "":
		return arg("APIKey", "is required")
	case o.Issuer == "":
		return arg("Issuer", "is required")
	case o.Audience == "":
		return arg("Audience", "is required")
	case o.Leeway < 0 || o.Leeway > stream.MaxLeeway:
		return arg("Leeway", "must be between 0 and 1m")
	case o.MaxSnapshotEntries < 0:
		return arg("MaxSnapshotEntries", "must not be negative")
	case o.MaxStaleness < 0 || o.IdleTimeout < 0 || o.MinRefetchInterval < 0:
		return arg("MaxStaleness", "durations must not be negative")
	case o.WhenStale > AcceptWhenStale:
		return arg("WhenStale", "unknown policy")
	}
	if o.ExternalURL != "" {
		e, err := url.Parse(o.ExternalURL)
		if err != nil || (e.Scheme != "http" && e.Scheme != "https") || e.Host == "" || e.User != nil || (e.Path != "" && e.Path != "/") || e.RawQuery != "" || e.Fragment != "" {
			return arg("ExternalURL", "must be an http or https URL with a host and nothing else")
		}
		o.ExternalURL = e.Scheme + "://" + e.Host
	}
	if o.Leeway == 0 {
		o.Leeway = DefaultLeeway
	}
	if o.MaxStaleness == 0 {
		o.MaxStaleness = DefaultMaxStaleness
	}
	if o.IdleTimeout == 0 {
		o.IdleTimeout = DefaultIdleTimeout
	}
	if o.MinRefetchInterval == 0 {
		o.MinRefetchInterval = DefaultMinRefetchInterval
	}
	if o.CacheSize == 0 {
		o.CacheSize = DefaultCacheSize
	}
	if o.MaxSnapshotEntries == 0 {
		o.MaxSnapshotEntries = DefaultMaxSnapshotEntries
	}
	if o.HTTPClient == nil {
		o.HTTPClient = &http.Client{Timeout: 10 * time.Second}
	}
	// The API key must never follow a redirect to another host.
	hc := *o.HTTPClient
	hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	o.HTTPClient = &hc
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Clock == nil {
		o.Clock = sessiond.SystemClock{}
	}
	return nil
}

// Close stops following the stream. Verify keeps working on the state it
// has (which turns stale after MaxStaleness).
func (v *Verifier) Close() error {
	v.cancel()
	v.wg.Wait()
	return nil
}

// MaxTokenBytes is the largest token Verify looks at.
const MaxTokenBytes = 8 << 10

// ErrDPoPRequired: the token is bound to a key (cnf.jkt) and was
// presented without a DPoP proof, e.g. as a Bearer token. It is wrapped
// together with sessiond.ErrInvalidToken.
var ErrDPoPRequired = errors.New("verifier: the token is bound to a key and needs a DPoP proof")

// ErrNotBound: a DPoP proof came with a token that is not bound to a key
// (RFC 9449 §7.1: the DPoP scheme is for bound tokens). It is wrapped
// together with sessiond.ErrInvalidToken.
var ErrNotBound = errors.New("verifier: the token is not bound to a key")

// ErrDeviceBound: the token is an access token of a browser session bound
// to a device key (DBSC, sessiond.Manager.BindDevice; the binding is in
// its ext claim). Such a session authenticates only with the short-lived
// bound cookie its browser's key keeps fresh, which the gateway checks and
// no resource server sees: presented as a Bearer token it is a copied
// cookie, and POST /oauth2/introspect answers it inactive. It is wrapped
// together with sessiond.ErrInvalidToken.
var ErrDeviceBound = errors.New("verifier: the token belongs to a device-bound browser session and is not a bearer token")

// VerifyOption adds a check to Verify.
type VerifyOption func(*verifyOptions)

type verifyOptions struct {
	dpop      bool
	proof     string
	method, u string
}

// WithDPoP presents the DPoP proof (the DPoP header) that came with the
// token, and the method and absolute URL of the request it came with. The
// token must then be bound to the proof's key, and the proof valid for
// this request and token (RFC 9449 §4.3, §7.1).
func WithDPoP(proof, method, url string) VerifyOption {
	return func(o *verifyOptions) { o.dpop, o.proof, o.method, o.u = true, proof, method, url }
}

// Verify checks an access token: its shape (base64url in three segments,
// one spelling), signature against the JWKS, the claims (typ at+jwt, iss,
// aud, exp, iat, the session's expiry), then the revoked sessions and
// watermarks the stream delivered, then staleness, then the key binding.
// The token is never logged or quoted in an error.
//
// The access token of a device-bound browser session (DBSC) is refused
// whatever comes with it (ErrDeviceBound): only the gateway, which sees
// its bound cookie, can tell the browser from a thief.
//
// A token bound to a key (cnf.jkt) verifies only WithDPoP and a proof by
// that key for this request: the key's thumbprint, htm, htu, ath (the
// hash of token), iat, an unused jti, in this order (a proof refused for
// its iat alone also matches sessiond.ErrClockSkew). Otherwise the error
// matches ErrDPoPRequired, or dpop.ErrInvalidProof (answer invalid_dpop_proof),
// or dpop.ErrUseNonce when Options.DPoP.Nonces is set (answer
// use_dpop_nonce with the nonce from Nonce). Tokens not bound to a key
// verify as before, and refuse WithDPoP (ErrNotBound).
func (v *Verifier) Verify(ctx context.Context, token string, opts ...VerifyOption) (Claims, error) {
	var o verifyOptions
	for _, opt := range opts {
		if opt != nil { // a nil option (an unset variable) is no option
			opt(&o)
		}
	}
	c, err := v.verify(ctx, token)
	if err != nil {
		return Claims{}, err
	}
	switch {
	case c.KeyThumbprint == "" && o.dpop:
		return Claims{}, fmt.Errorf("%w: %w", sessiond.ErrInvalidToken, ErrNotBound)
	case c.KeyThumbprint == "":
		return c, nil
	case !o.dpop:
		return Claims{}, fmt.Errorf("%w: %w", sessiond.ErrInvalidToken, ErrDPoPRequired)
	}
	// Last, so that a proof sent with a token refused anyway burns no jti.
	// NotAfter: the proof's ath ties it to this token, refused from then.
	if _, err := v.dpop.Verify(ctx, o.proof, dpop.Request{Method: o.method, URL: o.u,
		AccessToken: sessiond.Secret(token), JKT: c.KeyThumbprint, NotAfter: c.ExpiresAt.Add(v.opts.Leeway)}); err != nil {
		return Claims{}, fmt.Errorf("verifier: %w", err)
	}
	return c, nil
}

// Nonce returns the server nonce clients must put in their next DPoP
// proof (the DPoP-Nonce header), or "" when Options.DPoP.Nonces is not set.
func (v *Verifier) Nonce(ctx context.Context) (string, error) {
	return v.dpop.Nonce(ctx)
}

func (v *Verifier) verify(ctx context.Context, token string) (Claims, error) {
	if len(token) == 0 || len(token) > MaxTokenBytes {
		return Claims{}, fmt.Errorf("verifier: %w: empty or oversized", sessiond.ErrInvalidToken)
	}
	now := v.clock.Now()
	c, ok := v.cache.get(token)
	if ok {
		if !now.Before(c.ExpiresAt.Add(v.opts.Leeway)) {
			v.cache.remove(token)
			return Claims{}, fmt.Errorf("verifier: %w", sessiond.ErrExpired)
		}
	} else {
		gen := v.cache.generation()
		var err error
		if c, err = v.verifySignature(ctx, token); err != nil {
			return Claims{}, err
		}
		v.cache.put(token, c, gen)
	}
	if !now.Before(c.SessionExpiresAt.Add(v.opts.Leeway)) {
		return Claims{}, fmt.Errorf("verifier: %w", sessiond.ErrAbsoluteTimeout)
	}
	if v.state.revoked(c.SessionID, c.Subject, c.AuthTime) {
		return Claims{}, fmt.Errorf("verifier: %w", sessiond.ErrRevoked)
	}
	if v.stale(now) {
		if v.opts.WhenStale == RejectWhenStale {
			return Claims{}, ErrStale
		}
		c.Stale = true
		v.warnStale(now)
	}
	return c, nil
}

// tick is the ticks reading at now, the clock's time.
func (v *Verifier) tick(now time.Time) int64 {
	if v.ticks != nil {
		return v.ticks()
	}
	return now.UnixNano()
}

// stale reports whether the revocation state may be missing revocations.
func (v *Verifier) stale(now time.Time) bool {
	return v.broken.Load() || v.tick(now)-v.syncTick.Load() > int64(v.opts.MaxStaleness)
}

func (v *Verifier) warnStale(now time.Time) {
	// Throttled on ticks, as staleness is measured: on the wall clock, one
	// stepped back by N silenced the warning for N more.
	last, tick := v.lastWarn.Load(), v.tick(now)
	if (last != 0 && tick-last < int64(time.Minute)) || !v.lastWarn.CompareAndSwap(last, tick) {
		return
	}
	v.log.Warn("verifier: revocation state is stale; accepting tokens as configured (AcceptWhenStale)",
		"last_sync", time.Unix(0, v.lastSync.Load()).UTC(), "max_staleness", v.opts.MaxStaleness.String())
}

// markSynced records proof that the state is current.
func (v *Verifier) markSynced() {
	now := v.clock.Now()
	v.lastSync.Store(now.UnixNano())
	v.syncTick.Store(v.tick(now))
	v.broken.Store(false)
}

// Status is what a health check may report about a Verifier.
type Status struct {
	Connected bool      // a stream connection is open
	LastSync  time.Time // the last proof that the revocation state was current
	Stale     bool      // Verify applies WhenStale
	Revoked   int       // revoked sessions held
	Keys      int       // verification keys held
	// Snapshots counts the snapshots loaded: one at New, one per reset.
	// Reconnections that resumed with Last-Event-ID load none.
	Snapshots int
}

// Status returns the verifier's current status.
func (v *Verifier) Status() Status {
	now := v.clock.Now()
	return Status{Connected: v.connected.Load(), LastSync: time.Unix(0, v.lastSync.Load()).UTC(), Stale: v.stale(now),
		Revoked: v.state.len(), Keys: v.keys.len(), Snapshots: int(v.snapshots.Load())}
}
