package httpsession

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/internal/jwsshape"
)

// Device Bound Session Credentials (DBSC, W3C WebAppSec draft): the browser
// keeps a private key for the session and proves it holds it to get a
// short-lived bound cookie. Once a session is bound, the long-lived session
// cookie alone no longer authenticates: a stolen cookie is useless without
// the key, which never leaves the device.
//
//   - Login offers registration: Secure-Session-Registration with the
//     algorithms, a challenge bound to the new session and the registration
//     path.
//   - The registration endpoint checks the browser's dbsc+jwt (signed with
//     the key in its jwk header, jti = the challenge, used once), replaces
//     the session with one bound to the key (Manager.BindDevice), and
//     answers with the session instructions and a bound cookie.
//   - The refresh endpoint answers 403 with a Secure-Session-Challenge, and
//     a proof signed by the bound key over that challenge with a new bound
//     cookie. An ended session gets {"continue": false}.
//
// Challenges are 128 random bits with an expiry, MACed with Options.DBSC.Key
// to the session they were issued for, and consumed once through a
// sessiond.ReplayGuard. The bound cookie is an expiry MACed to the
// session's device binding.

// DBSCPolicy says what the middleware does with DBSC.
type DBSCPolicy string

// The DBSC policies.
const (
	// DBSCOff: no registration is offered; bound sessions are not checked
	// (only sessions bound while a policy was on exist).
	DBSCOff DBSCPolicy = "off"
	// DBSCOptional: registration is offered at login; a bound session
	// needs its bound cookie, an unbound one (a browser without DBSC)
	// works as before.
	DBSCOptional DBSCPolicy = "optional"
	// DBSCRequired: as optional, and an unbound session is not
	// authenticated except at the registration endpoint.
	DBSCRequired DBSCPolicy = "required"
)

// Defaults of DBSCOptions.
const (
	DefaultBoundCookieName       = "__Host-sessiond-bound"
	DefaultDBSCRegistrationPath  = "/auth/dbsc/register"
	DefaultDBSCRefreshPath       = "/auth/dbsc/refresh"
	DefaultBoundCookieLifetime   = 10 * time.Minute
	DefaultDBSCChallengeLifetime = 5 * time.Minute
)

// dbscRecordSkew is how long a used challenge is remembered past its
// expiry: a node whose clock is behind the store's (Redis expires the
// record by its own) or the issuing node's by up to that much still
// refuses its replay.
const dbscRecordSkew = time.Minute

// DBSC header names.
const (
	HeaderSessionRegistration = "Secure-Session-Registration"
	HeaderSessionChallenge    = "Secure-Session-Challenge"
	HeaderSessionResponse     = "Secure-Session-Response"
	HeaderSessionID           = "Sec-Secure-Session-Id"
)

// Errors of device-bound sessions; Require answers them with
// Options.Unauthenticated like any other.
var (
	// ErrDeviceProof: the session is bound to a device and the request
	// carries no valid bound cookie for it (a stolen session cookie, or an
	// expired bound cookie). It matches sessiond.ErrInvalidToken too, as
	// ErrKeyProofRequired does: a refused token, which
	// sessiond_verify_total counts as token_invalid, not as a fault.
	ErrDeviceProof error = &refusal{"httpsession: device-bound session without a valid bound cookie"}
	// ErrDeviceBindingRequired: the policy is required and the session is
	// not bound to a device. sessiond_verify_total counts it as
	// binding_required: every browser without DBSC meets it, so it is
	// neither a fault (error) nor a guessed token (token_invalid).
	ErrDeviceBindingRequired error = &namedRefusal{"httpsession: session not bound to a device", "binding_required"}
)

// namedRefusal is a sentinel that names its verify outcome, a value of
// metrics.VerifyOutcome's fixed set written out (this package may not
// import metrics), as metrics.VerifyOutcome reads it.
type namedRefusal struct{ msg, outcome string }

func (e *namedRefusal) Error() string { return e.msg }

// VerifyOutcome is the sessiond_verify_total outcome of the refusal.
func (e *namedRefusal) VerifyOutcome() string { return e.outcome }

// refusal is a sentinel for a valid token refused by a check of the rest
// of the request (its bound cookie, its registration). It matches sessiond.ErrInvalidToken while its text stays its own:
// it is the reason session.device_proof_refused events record.
type refusal struct{ msg string }

func (e *refusal) Error() string { return e.msg }
func (e *refusal) Unwrap() error { return sessiond.ErrInvalidToken }

// DBSCOptions configure DBSC. Zero values take the documented defaults.
type DBSCOptions struct {
	// Policy; default DBSCOff.
	Policy DBSCPolicy
	// Key MACs challenges and bound cookies: at least 32 bytes, the same on
	// every node. Default: 32 random bytes made by New, which only one
	// node knows and which a restart forgets (bound sessions then refresh
	// their cookie once more).
	Key []byte
	// CurrentKey, when set, returns the key in use, read at each use in
	// place of Key: for a key shared through a store that can change under
	// a running node (a store that lost it and had it written back by
	// another node). Challenges and bound cookies MACed with the key it
	// replaced are then refused; browsers register or refresh again.
	CurrentKey func() []byte
	// CookieName of the bound cookie. Default "__Host-sessiond-bound", or
	// "__Secure-sessiond-bound" when Options.Domain is set (a __Host- name
	// with a Domain is refused: browsers drop such a cookie). With
	// Options.InsecureDevCookies its __Host- or __Secure- prefix is dropped,
	// as the session cookies' is ("sessiond-bound"): browsers silently
	// refuse a prefixed cookie without Secure.
	CookieName string
	// CookieLifetime is the bound cookie's Max-Age: how long a stolen bound
	// cookie works. Default 10 minutes.
	CookieLifetime time.Duration
	// ChallengeLifetime: how long a challenge can be answered. Default 5
	// minutes.
	ChallengeLifetime time.Duration
	// RegistrationPath and RefreshPath are where RegistrationHandler and
	// RefreshHandler (DBSCHandler serves both) are mounted. Defaults
	// "/auth/dbsc/register" and "/auth/dbsc/refresh".
	RegistrationPath string
	RefreshPath      string
	// Replay remembers used challenges; share one across nodes (a Store
	// that implements sessiond.ReplayGuard). A sessiond.AckedReplayGuard
	// (redisstore) records them with RememberOnceAcked, so a failover
	// cannot forget one. Default: this process's memory.
	Replay sessiond.ReplayGuard
	// Clock for challenges and bound cookies. Default sessiond.SystemClock.
	Clock sessiond.Clock
}

// redacted is o with its Key shown as REDACTED (empty when none), for the
// ways DBSCOptions (or Options, which holds them) are printed: the key
// forges bound cookies. The local type keeps the name
// httpsession.DBSCOptions in %#v.
func (o DBSCOptions) redacted() any {
	type DBSCOptions struct {
		Policy            DBSCPolicy
		Key               string
		CurrentKey        func() []byte
		CookieName        string
		CookieLifetime    time.Duration
		ChallengeLifetime time.Duration
		RegistrationPath  string
		RefreshPath       string
		Replay            sessiond.ReplayGuard
		Clock             sessiond.Clock
	}
	out := DBSCOptions{Policy: o.Policy, CurrentKey: o.CurrentKey, CookieName: o.CookieName,
		CookieLifetime: o.CookieLifetime, ChallengeLifetime: o.ChallengeLifetime,
		RegistrationPath: o.RegistrationPath, RefreshPath: o.RefreshPath, Replay: o.Replay, Clock: o.Clock}
	if len(o.Key) > 0 {
		out.Key = "REDACTED"
	}
	return out
}

// Format prints o with its Key as REDACTED, whatever the verb.
func (o DBSCOptions) Format(f fmt.State, verb rune) {
	fmt.Fprintf(f, fmt.FormatString(f, verb), o.redacted())
}

// LogValue implements slog.LogValuer: o without its Key.
func (o DBSCOptions) LogValue() slog.Value {
	return slog.AnyValue(o.redacted())
}

// dbsc is the middleware's DBSC state; nil when the policy is off.
type dbsc struct {
	policy      DBSCPolicy
	key         []byte
	currentKey  func() []byte // nil: key
	cookie      cookieSpec
	lifetime    time.Duration
	challengeTT time.Duration
	regPath     string
	refreshPath string
	replay      sessiond.ReplayGuard
	clock       sessiond.Clock
}

const (
	minDBSCKeyBytes = 32
	// maxProofBytes bounds a Secure-Session-Response (an RSA-4096 proof
	// with its key is under 2 kB).
	maxProofBytes = 8 << 10
	typDBSC       = "dbsc+jwt"
	challengeReg  = "registration"
	challengeRef  = "refresh"
)

func newDBSC(o DBSCOptions, secure bool, domain string, strategy sessiond.Strategy) (*dbsc, error) {
	switch o.Policy {
	case "", DBSCOff:
		return nil, nil
	case DBSCOptional, DBSCRequired:
	default:
		return nil, fmt.Errorf("httpsession: unknown DBSC policy %q (off, optional, required): %w", o.Policy, sessiond.ErrInvalidArgument)
	}
	if strategy == sessiond.StrategyJWT {
		return nil, fmt.Errorf("httpsession: DBSC needs stored sessions (database or hybrid strategy), not jwt: %w", sessiond.ErrInvalidArgument)
	}
	d := &dbsc{policy: o.Policy, key: o.Key, currentKey: o.CurrentKey, cookie: cookieSpec{name: o.CookieName, path: "/"},
		lifetime: o.CookieLifetime, challengeTT: o.ChallengeLifetime,
		regPath: o.RegistrationPath, refreshPath: o.RefreshPath, replay: o.Replay, clock: o.Clock}
	if d.key == nil && d.currentKey != nil {
		d.key = d.currentKey()
	}
	if d.key == nil {
		d.key = make([]byte, minDBSCKeyBytes)
		_, _ = rand.Read(d.key)
	} else if len(d.key) < minDBSCKeyBytes {
		return nil, fmt.Errorf("httpsession: DBSC key is %d bytes; at least %d are needed: %w", len(d.key), minDBSCKeyBytes, sessiond.ErrInvalidArgument)
	}
	// RFC 6265bis §4.1.3.2: the browser drops a __Host- cookie with a
	// Domain, and the bound cookie shares the others' Domain. Bound
	// sessions would then fail on their first request after binding.
	switch {
	case d.cookie.name == "" && domain != "":
		d.cookie.name = "__Secure-" + strings.TrimPrefix(DefaultBoundCookieName, hostPrefix)
	case d.cookie.name == "":
		d.cookie.name = DefaultBoundCookieName
	case hasPrefixFold(d.cookie.name, hostPrefix) && domain != "":
		return nil, fmt.Errorf("httpsession: DBSC cookie %q has the __Host- prefix, which needs no Domain (use __Secure-): %w", d.cookie.name, sessiond.ErrInvalidArgument)
	}
	if !secure {
		d.cookie.name = stripPrefix(d.cookie.name)
	}
	if d.lifetime == 0 {
		d.lifetime = DefaultBoundCookieLifetime
	}
	if d.challengeTT == 0 {
		d.challengeTT = DefaultDBSCChallengeLifetime
	}
	if d.lifetime < time.Second || d.challengeTT < time.Second {
		return nil, fmt.Errorf("httpsession: DBSC cookie and challenge lifetimes must be at least a second: %w", sessiond.ErrInvalidArgument)
	}
	if d.regPath == "" {
		d.regPath = DefaultDBSCRegistrationPath
	}
	if d.refreshPath == "" {
		d.refreshPath = DefaultDBSCRefreshPath
	}
	for _, p := range []string{d.regPath, d.refreshPath} {
		if !strings.HasPrefix(p, "/") || strings.ContainsAny(p, "\";\\ ,") || strings.ContainsFunc(p, func(r rune) bool { return r < 0x20 || r >= 0x7f }) {
			return nil, fmt.Errorf("httpsession: DBSC path %q must be an absolute URL path: %w", p, sessiond.ErrInvalidArgument)
		}
	}
	if d.replay == nil {
		d.replay = &sessiond.ReplayMemory{}
	}
	if d.clock == nil {
		d.clock = sessiond.SystemClock{}
	}
	if err := (&http.Cookie{Name: d.cookie.name, Value: "x", Path: "/"}).Valid(); err != nil {
		return nil, fmt.Errorf("httpsession: bound cookie %q: %v: %w", d.cookie.name, err, sessiond.ErrInvalidArgument)
	}
	return d, nil
}

// DBSCPolicy returns the DBSC policy in effect.
func (s *Sessions) DBSCPolicy() DBSCPolicy {
	if s.dbsc == nil {
		return DBSCOff
	}
	return s.dbsc.policy
}

// BoundCookieName returns the bound cookie's name, "" when DBSC is off.
func (s *Sessions) BoundCookieName() string {
	if s.dbsc == nil {
		return ""
	}
	return s.dbsc.cookie.name
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

// mac is HMAC-SHA256 under the DBSC key of the parts, each length-prefixed
// so no two lists of parts give the same input.
func (d *dbsc) mac(label string, parts ...string) []byte {
	key := d.key
	if d.currentKey != nil {
		if k := d.currentKey(); len(k) >= minDBSCKeyBytes {
			key = k
		}
	}
	h := hmac.New(sha256.New, key)
	for _, p := range append([]string{label}, parts...) {
		h.Write([]byte(strconv.Itoa(len(p)) + ":" + p))
	}
	return h.Sum(nil)
}

// newChallenge returns a challenge of kind for the session (or device
// binding) named by bind: random.expiry.mac.
func (d *dbsc) newChallenge(kind, bind string) string {
	var r [16]byte
	_, _ = rand.Read(r[:])
	nonce := b64(r[:])
	exp := strconv.FormatInt(d.clock.Now().Add(d.challengeTT).Unix(), 10)
	return nonce + "." + exp + "." + b64(d.mac("sessiond dbsc challenge v1", kind, bind, nonce, exp))
}

// Reasons a proof is refused, in events and logs.
var (
	errProofMissing     = errors.New("no Secure-Session-Response")
	errProofMalformed   = errors.New("malformed proof")
	errProofType        = errors.New("wrong typ")
	errProofKey         = errors.New("unacceptable key")
	errProofSignature   = errors.New("bad signature")
	errChallengeUnknown = errors.New("challenge not issued for this session")
	errChallengeExpired = errors.New("challenge expired")
	errChallengeUsed    = errors.New("challenge already used")
	// errAlreadyBound: registration with a bound session's cookie (a
	// copied one, binding its own key); a refused token, like
	// ErrDeviceProof.
	errAlreadyBound error = &refusal{"already bound"}
)

// consumeChallenge checks c was issued for kind and bind and has not
// expired, and marks it used; a second call with it fails.
func (d *dbsc) consumeChallenge(r *http.Request, c, kind, bind string) error {
	nonce, rest, ok1 := strings.Cut(c, ".")
	exp, mac, ok2 := strings.Cut(rest, ".")
	if !ok1 || !ok2 || len(c) > 256 {
		return errChallengeUnknown
	}
	got, err := base64.RawURLEncoding.Strict().DecodeString(mac)
	if err != nil || !hmac.Equal(got, d.mac("sessiond dbsc challenge v1", kind, bind, nonce, exp)) {
		return errChallengeUnknown
	}
	until, err := strconv.ParseInt(exp, 10, 64)
	if err != nil {
		return errChallengeUnknown
	}
	now := d.clock.Now()
	if now.Unix() >= until {
		return errChallengeExpired
	}
	// Remembered by what the MAC covers, not by the text sent: the
	// base64 of the MAC can be written several ways (a line break, the
	// unused low bits of its last character) that decode alike, and each
	// would look unused.
	sum := sha256.Sum256([]byte(kind + "\x00" + bind + "\x00" + nonce + "\x00" + exp))
	// Acked: a record a failover loses would take the proof again. It
	// lasts dbscRecordSkew past the challenge, as the store (Redis) may
	// expire it by a clock ahead of this node's, which takes the
	// challenge until its own reaches until.
	fresh, err := sessiond.RememberAcked(r.Context(), d.replay, "dbsc:"+b64(sum[:]), now, time.Unix(until, 0).Add(dbscRecordSkew))
	if err != nil {
		return fmt.Errorf("httpsession: remember DBSC challenge: %w", err)
	}
	if !fresh {
		return errChallengeUsed
	}
	return nil
}

// proof is a checked Secure-Session-Response.
type proof struct {
	jti string
	alg string
	key *jose.JSONWebKey // the header's jwk (registration only)
}

// parseProof checks a dbsc+jwt: one header, ES256 or RS256, typ
// dbsc+jwt, and the signature by bound (refresh: the header must carry no
// key) or by the header's own jwk (registration, bound == nil).
func parseProof(r *http.Request, bound *jose.JSONWebKey) (*proof, error) {
	vals := r.Header.Values(HeaderSessionResponse)
	if len(vals) == 0 {
		return nil, errProofMissing
	}
	if len(vals) > 1 || len(vals[0]) > maxProofBytes {
		return nil, errProofMalformed
	}
	// A JWT, so the compact serialisation only (RFC 7519 §1), in the one
	// spelling jwsshape admits: jose.ParseSigned would also take the JSON
	// serialisation, and its base64 skips line breaks.
	v := strings.TrimSpace(vals[0])
	if jwsshape.Check(v, maxProofBytes) != jwsshape.OK {
		return nil, errProofMalformed
	}
	jws, err := jose.ParseSignedCompact(v, []jose.SignatureAlgorithm{jose.ES256, jose.RS256})
	if err != nil || len(jws.Signatures) != 1 {
		return nil, errProofMalformed
	}
	h := jws.Signatures[0].Protected
	if typ, _ := h.ExtraHeaders[jose.HeaderType].(string); typ != typDBSC {
		return nil, errProofType
	}
	key := bound
	if bound == nil {
		if h.JSONWebKey == nil || !h.JSONWebKey.IsPublic() || !h.JSONWebKey.Valid() || !keyFits(h.JSONWebKey, h.Algorithm) {
			return nil, errProofKey
		}
		key = h.JSONWebKey
	} else if h.JSONWebKey != nil {
		return nil, errProofKey // a refresh proof names no key: only the bound one counts
	}
	payload, err := jws.Verify(key)
	if err != nil {
		return nil, errProofSignature
	}
	var claims struct {
		JTI string `json:"jti"`
	}
	if err := json.Unmarshal(payload, &claims); err != nil || claims.JTI == "" {
		return nil, errProofMalformed
	}
	return &proof{jti: claims.JTI, alg: h.Algorithm, key: h.JSONWebKey}, nil
}

// keyFits: ES256 with a P-256 key, RS256 with an RSA key of 2048 bits or
// more.
func keyFits(k *jose.JSONWebKey, alg string) bool {
	switch pub := k.Key.(type) {
	case *ecdsa.PublicKey:
		return alg == string(jose.ES256) && pub.Curve == elliptic.P256()
	case *rsa.PublicKey:
		return alg == string(jose.RS256) && pub.N.BitLen() >= 2048
	}
	return false
}

// Instructions is the JSON body of the registration and refresh answers
// (DBSC "session instructions").
type Instructions struct {
	SessionIdentifier string       `json:"session_identifier,omitempty"`
	RefreshURL        string       `json:"refresh_url,omitempty"`
	Scope             *Scope       `json:"scope,omitempty"`
	Credentials       []Credential `json:"credentials,omitempty"`
	// Continue false ends the browser's DBSC session.
	Continue *bool `json:"continue,omitempty"`
}

// Scope is the part of the site a DBSC session covers: this origin.
type Scope struct {
	Origin      string `json:"origin,omitempty"`
	IncludeSite bool   `json:"include_site"`
}

// Credential is a bound cookie: its name and the attributes its Set-Cookie
// carries.
type Credential struct {
	Type       string `json:"type"`
	Name       string `json:"name"`
	Attributes string `json:"attributes"`
}

// offerDBSC adds Secure-Session-Registration for the new session id.
func (s *Sessions) offerDBSC(w http.ResponseWriter, id sessiond.SessionID) {
	if s.dbsc == nil {
		return
	}
	c := s.dbsc.newChallenge(challengeReg, string(id))
	w.Header().Add(HeaderSessionRegistration, fmt.Sprintf(`(ES256 RS256);path=%q;challenge=%q`, s.dbsc.regPath, c))
}

// boundCookieValue is expiry.mac, the mac over the device binding.
func (d *dbsc) boundCookieValue(b sessiond.DeviceBinding, until time.Time) string {
	exp := strconv.FormatInt(until.Unix(), 10)
	return exp + "." + b64(d.mac("sessiond dbsc cookie v1", b.ID, b.JKT, exp))
}

// checkBoundCookie reports whether r carries a live bound cookie for b.
func (d *dbsc) checkBoundCookie(r *http.Request, b sessiond.DeviceBinding) error {
	c, err := r.Cookie(d.cookie.name)
	if err != nil || c.Value == "" {
		return fmt.Errorf("%w: none sent", ErrDeviceProof)
	}
	exp, mac, ok := strings.Cut(c.Value, ".")
	got, derr := base64.RawURLEncoding.DecodeString(mac)
	if !ok || derr != nil || !hmac.Equal(got, d.mac("sessiond dbsc cookie v1", b.ID, b.JKT, exp)) {
		return fmt.Errorf("%w: not this session's", ErrDeviceProof)
	}
	until, err := strconv.ParseInt(exp, 10, 64)
	if err != nil || d.clock.Now().Unix() >= until {
		return fmt.Errorf("%w: expired", ErrDeviceProof)
	}
	return nil
}

// checkDevice applies the policy to a verified session.
func (s *Sessions) checkDevice(r *http.Request, sess *sessiond.Session) error {
	if s.dbsc == nil {
		return nil
	}
	b, ok := sess.DeviceBinding()
	if !ok {
		if s.dbsc.policy == DBSCRequired {
			return ErrDeviceBindingRequired
		}
		return nil
	}
	if err := s.dbsc.checkBoundCookie(r, b); err != nil {
		s.refused(r, sess, "request", err)
		return err
	}
	return nil
}

// refreshCheck is the check Refresh runs on the session before rotating
// its refresh token: a device-bound session needs its bound cookie. Nil
// with DBSC off, so a DPoP-bound session is refused as by plain Refresh.
func (s *Sessions) refreshCheck(r *http.Request) func(*sessiond.Session) error {
	if s.dbsc == nil {
		return nil
	}
	return func(sess *sessiond.Session) error {
		if sess.KeyThumbprint() != "" {
			return fmt.Errorf("httpsession: refresh: %w", ErrKeyProofRequired)
		}
		b, ok := sess.DeviceBinding()
		if !ok {
			return nil
		}
		if err := s.dbsc.checkBoundCookie(r, b); err != nil {
			s.refused(r, sess, "refresh_token", err)
			return err
		}
		return nil
	}
}

// refused records a refused proof or bound cookie.
func (s *Sessions) refused(r *http.Request, sess *sessiond.Session, stage string, reason error) {
	e := sessiond.Event{Type: sessiond.EventDeviceProofRefused, Client: s.Client(r),
		Details: map[string]any{"stage": stage, "reason": reason.Error()}}
	if sess != nil {
		e.Subject, e.SessionID = sess.Subject, sess.ID
	}
	s.m.Record(r.Context(), e)
}

// setBoundCookie sets a bound cookie for b, living CookieLifetime or until
// the session ends, whichever is sooner.
func (s *Sessions) setBoundCookie(w http.ResponseWriter, sess *sessiond.Session, b sessiond.DeviceBinding) {
	now := s.dbsc.clock.Now()
	until := now.Add(s.dbsc.lifetime)
	if sess.ExpiresAt.Before(until) {
		until = sess.ExpiresAt
	}
	c := s.cookie(s.dbsc.cookie, s.dbsc.boundCookieValue(b, until), maxAge(now, until))
	w.Header().Add("Set-Cookie", c.String())
}

// instructions returns the session instructions for binding b.
func (s *Sessions) instructions(b sessiond.DeviceBinding) Instructions {
	attrs := []string{"Path=/"}
	if s.domain != "" {
		attrs = append(attrs, "Domain="+s.domain)
	}
	if s.secure {
		attrs = append(attrs, "Secure")
	}
	attrs = append(attrs, "HttpOnly")
	switch s.sameSite {
	case http.SameSiteStrictMode:
		attrs = append(attrs, "SameSite=Strict")
	case http.SameSiteNoneMode:
		attrs = append(attrs, "SameSite=None")
	default:
		attrs = append(attrs, "SameSite=Lax")
	}
	return Instructions{
		SessionIdentifier: b.ID,
		RefreshURL:        s.dbsc.refreshPath,
		Scope:             &Scope{IncludeSite: false},
		Credentials:       []Credential{{Type: "cookie", Name: s.dbsc.cookie.name, Attributes: strings.Join(attrs, "; ")}},
	}
}

func writeInstructions(w http.ResponseWriter, in Instructions) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	_ = json.NewEncoder(w).Encode(in)
}

// dbscHeaders: no caching, no framing, nothing for other origins.
func dbscHeaders(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Cache-Control", "no-store")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Cross-Origin-Resource-Policy", "same-origin")
	h.Set("X-Content-Type-Options", "nosniff")
}

// DBSCHandler serves RegistrationHandler at the registration path and
// RefreshHandler at the refresh path, 404 elsewhere. With DBSC off every
// path is 404.
func (s *Sessions) DBSCHandler() http.Handler {
	reg, ref := s.RegistrationHandler(), s.DBSCRefreshHandler()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case s.dbsc != nil && r.URL.Path == s.dbsc.regPath:
			reg.ServeHTTP(w, r)
		case s.dbsc != nil && r.URL.Path == s.dbsc.refreshPath:
			ref.ServeHTTP(w, r)
		default:
			writeProblem(w, http.StatusNotFound, "not_found", "Not found", "no such route")
		}
	})
}

// RegistrationHandler is the DBSC registration endpoint (POST): it checks
// the browser's proof against the challenge Login offered for the
// request's session, binds the session to the proof's key (a new session,
// Manager.BindDevice: new cookies), sets the bound cookie and answers 200
// with the session instructions. A missing or bad proof, or a session
// already bound, answers 403 (with a fresh registration offer when the
// session can still register); no session, 401.
func (s *Sessions) RegistrationHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !s.dbscRoute(w, r) {
			return
		}
		// The policy does not apply here: an unbound session must be able
		// to register even when unbound sessions are refused elsewhere.
		tok, err := s.credential(r)
		var sess sessiond.Session
		var bound *sessiond.Session
		if err == nil {
			// Checked before the session's activity is recorded: a
			// copied cookie of a bound session, without the key, must
			// not keep it from idling out by trying to register.
			var v sessiond.Verification
			v, err = s.m.InspectChecked(r.Context(), tok, s.Client(r), func(x *sessiond.Session) error {
				if err := checkKeyBinding(x); err != nil {
					return err
				}
				if x.DeviceBound() {
					b := *x
					bound = &b
					return errAlreadyBound
				}
				return nil
			})
			sess = v.Session
		}
		if bound != nil {
			s.refused(r, bound, "registration", errAlreadyBound)
			writeProblem(w, http.StatusForbidden, "device_proof_refused", "Forbidden", "the session is already bound to a device")
			return
		}
		if err != nil {
			s.dbscFailure(w, r, nil, "registration", err)
			return
		}
		p, err := parseProof(r, nil)
		if err == nil {
			err = s.dbsc.consumeChallenge(r, p.jti, challengeReg, string(sess.ID))
		}
		if err != nil {
			s.dbscFailure(w, r, &sess, "registration", err)
			return
		}
		jkt, err := p.key.Thumbprint(crypto.SHA256)
		if err != nil {
			s.dbscFailure(w, r, &sess, "registration", errProofKey)
			return
		}
		jwk, err := p.key.Public().MarshalJSON()
		if err != nil {
			s.dbscFailure(w, r, &sess, "registration", errProofKey)
			return
		}
		var id [16]byte
		_, _ = rand.Read(id[:])
		b := sessiond.DeviceBinding{ID: b64(id[:]), JKT: b64(jkt), JWK: jwk}
		iss, err := s.m.BindDevice(r.Context(), sess.ID, b)
		if err != nil {
			s.dbscFailure(w, r, &sess, "registration", err)
			return
		}
		if err := s.SetCookies(w, iss); err != nil {
			s.abandon(r.Context(), iss)
			s.dbscFailure(w, r, &sess, "registration", err)
			return
		}
		s.setBoundCookie(w, &iss.Session, b)
		s.log.InfoContext(r.Context(), "httpsession: session bound to a device", "session_id", iss.Session.ID, "alg", p.alg)
		writeInstructions(w, s.instructions(b))
	})
}

// DBSCRefreshHandler is the DBSC refresh endpoint (POST, with
// Sec-Secure-Session-Id): without a valid proof it answers 403 with a
// fresh Secure-Session-Challenge; with a proof signed by the session's
// bound key over a challenge issued for it and not used before, it sets a
// new bound cookie and answers 200 with the session instructions. A
// session that has ended, or that is not the browser's, gets
// {"continue": false}.
func (s *Sessions) DBSCRefreshHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !s.dbscRoute(w, r) {
			return
		}
		want := sfString(r.Header.Get(HeaderSessionID))
		// The access cookie may carry an expired JWT: the session it names
		// is what counts, looked up in the store.
		tok, err := s.credential(r)
		var sess sessiond.Session
		if err == nil {
			sess, err = s.m.SessionOf(r.Context(), tok)
		}
		if StoreFailure(err) {
			s.dbscFailure(w, r, nil, "refresh", err)
			return
		}
		b, bound := sess.DeviceBinding()
		if err != nil || !bound || (want != "" && want != b.ID) {
			// Logged out, revoked, ended, or a browser session we no
			// longer know: the browser stops refreshing it.
			stop := false
			writeInstructions(w, Instructions{Continue: &stop})
			return
		}
		key := new(jose.JSONWebKey)
		if err := key.UnmarshalJSON(b.JWK); err != nil {
			s.log.ErrorContext(r.Context(), "httpsession: stored device key", "session_id", sess.ID, "err", err)
			writeProblem(w, http.StatusInternalServerError, "internal", "Internal error", "the device key could not be read")
			return
		}
		p, err := parseProof(r, key)
		if err == nil {
			err = s.dbsc.consumeChallenge(r, p.jti, challengeRef, b.ID)
		}
		if err != nil {
			// A store's failure to record the challenge refuses no proof.
			if !errors.Is(err, errProofMissing) && !StoreFailure(err) {
				s.refused(r, &sess, "refresh", err)
				s.log.InfoContext(r.Context(), "httpsession: DBSC refresh proof refused", "session_id", sess.ID, "err", err)
			}
			if isInternal(err) {
				s.dbscFailure(w, r, &sess, "refresh", err)
				return
			}
			w.Header().Add(HeaderSessionChallenge, fmt.Sprintf(`%q;id=%q`, s.dbsc.newChallenge(challengeRef, b.ID), b.ID))
			writeProblem(w, http.StatusForbidden, "device_proof_required", "Forbidden", "prove possession of the session's device key")
			return
		}
		s.setBoundCookie(w, &sess, b)
		s.m.Record(r.Context(), sessiond.Event{Type: sessiond.EventDeviceRefreshed, Subject: sess.Subject, SessionID: sess.ID,
			Client: s.Client(r), Details: map[string]any{"device_session_id": b.ID}})
		writeInstructions(w, s.instructions(b))
	})
}

// isInternal tells a failure of ours (the store) from a refused proof.
func isInternal(err error) bool {
	for _, e := range []error{errProofMissing, errProofMalformed, errProofType, errProofKey, errProofSignature,
		errChallengeUnknown, errChallengeExpired, errChallengeUsed} {
		if errors.Is(err, e) {
			return false
		}
	}
	return true
}

// dbscFailure answers a registration that cannot go on.
func (s *Sessions) dbscFailure(w http.ResponseWriter, r *http.Request, sess *sessiond.Session, stage string, err error) {
	switch {
	// StoreFailure: ErrConflict is a store that gave up on concurrent
	// changes (pgstore's lock timeout or lost serialization, recording the
	// challenge or binding), no refusal of the proof. BindDevice's own
	// ErrConflict, a session already bound, is refused above (the
	// registration handler checks first), and a retry meets that check.
	case StoreFailure(err):
		s.log.ErrorContext(r.Context(), "httpsession: DBSC "+stage, "err", err)
		writeProblem(w, http.StatusServiceUnavailable, "store_unavailable", "Service unavailable", "the session store is unavailable; retry later")
	case sess == nil:
		writeUnauthorized(w, r, err)
	case isInternal(err) && !errors.Is(err, sessiond.ErrNotFound):
		s.log.ErrorContext(r.Context(), "httpsession: DBSC "+stage, "session_id", sess.ID, "err", err)
		writeProblem(w, http.StatusInternalServerError, "internal", "Internal error", "the session could not be bound")
	default:
		s.refused(r, sess, stage, err)
		s.log.InfoContext(r.Context(), "httpsession: DBSC "+stage+" refused", "session_id", sess.ID, "err", err)
		if stage == "registration" && !sess.DeviceBound() {
			s.offerDBSC(w, sess.ID) // the browser may try again with a fresh challenge
		}
		writeProblem(w, http.StatusForbidden, "device_proof_refused", "Forbidden", "the device key proof was refused")
	}
}

// sfString reads an RFC 9651 sf-string ("…"), or a bare value.
func sfString(v string) string {
	v = strings.TrimSpace(v)
	if len(v) >= 2 && v[0] == '"' && v[len(v)-1] == '"' {
		v = strings.ReplaceAll(strings.ReplaceAll(v[1:len(v)-1], `\"`, `"`), `\\`, `\`)
	}
	return v
}

// dbscRoute sets the headers every DBSC answer carries and refuses what
// neither endpoint serves: DBSC off (404) or another method than POST
// (405). It reports whether the handler goes on.
func (s *Sessions) dbscRoute(w http.ResponseWriter, r *http.Request) bool {
	dbscHeaders(w)
	if s.dbsc == nil {
		writeProblem(w, http.StatusNotFound, "not_found", "Not found", "device-bound sessions are off")
		return false
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		writeProblem(w, http.StatusMethodNotAllowed, "method_not_allowed", "Method not allowed", "use POST")
		return false
	}
	return true
}
