package ssf

import (
	"context"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/sessiond/sessiond"
)

// Event types a Receiver acts on.
const (
	CAEPSessionRevoked   = "https://schemas.openid.net/secevent/caep/event-type/session-revoked"
	CAEPCredentialChange = "https://schemas.openid.net/secevent/caep/event-type/credential-change"
	RISCAccountDisabled  = "https://schemas.openid.net/secevent/risc/event-type/account-disabled"
	RISCAccountPurged    = "https://schemas.openid.net/secevent/risc/event-type/account-purged"
	RISCSessionsRevoked  = "https://schemas.openid.net/secevent/risc/event-type/sessions-revoked"
)

// EventSETReceived is the security event recorded for every SET pushed.
const EventSETReceived = sessiond.EventSETReceived

// ReasonSSF is the revoke reason of sessions ended by a SET.
const ReasonSSF sessiond.RevokeReason = "ssf"

// Defaults.
const (
	DefaultMaxAge       = 5 * time.Minute
	DefaultPollMaxAge   = 7 * 24 * time.Hour
	DefaultMaxBodyBytes = 64 << 10
	DefaultJWKSInterval = time.Minute
	futureSkew          = time.Minute
)

// Bounds on the events of pushes refused whose sender is not
// authenticated: a wrong or missing bearer token, a body that is no SET
// signed by the transmitter, and also a SET the transmitter did sign when
// no bearer token tells the transmitter from whoever else holds that SET
// (it can be pushed again and again: refused as a replay, as stale, or for
// the wrong audience). Such a push costs its sender nothing, so what the
// event log keeps of it must not grow with the number sent (as for refused
// API keys and unknown tokens): at most recordMax of each kind, unsigned
// and signed, are recorded a window per receiver (two budgets, so a flood
// of garbage cannot hide the transmitter's own refused SETs), and the next
// event recorded counts those left out ("unreported"). Accepted SETs,
// pushes that carried the bearer token, polled SETs and failures of the
// store on a signed SET are all recorded; a JWKS failure comes before the
// signature is verified (any sender can cause one with an unknown kid),
// so it counts as unsigned.
const (
	recordWindow = time.Minute
	recordMax    = 60
)

var supported = []string{CAEPSessionRevoked, CAEPCredentialChange, RISCAccountDisabled, RISCAccountPurged, RISCSessionsRevoked}

// algorithms are those accepted on a SET; none and HMAC never are.
var algorithms = []jose.SignatureAlgorithm{jose.RS256, jose.ES256, jose.EdDSA}

// minRSABits is the smallest RSA key a SET is verified with.
const minRSABits = 2048

// Algorithms returns the signature algorithms accepted on a SET, a new
// slice on each call.
func Algorithms() []jose.SignatureAlgorithm { return slices.Clone(algorithms) }

// Revoker ends sessions; *sessiond.Manager is one.
type Revoker interface {
	Get(ctx context.Context, id sessiond.SessionID) (sessiond.Session, error)
	Revoke(ctx context.Context, id sessiond.SessionID, reason sessiond.RevokeReason) error
	RevokeSubject(ctx context.Context, subject string, except sessiond.SessionID, reason sessiond.RevokeReason) (int, error)
}

// Options configure a Receiver for one transmitter.
type Options struct {
	Name     string // names the transmitter in events
	Issuer   string // the iss every SET must carry
	Audience string // a value the aud of every SET must hold
	JWKSURL  string // the transmitter's jwks_uri
	Subject  SubjectRule
	Revoker  Revoker
	// Replay remembers the jti of every verified SET until its iat
	// window has passed, shared by every node on the store (every store
	// sessiond ships implements sessiond.ReplayGuard; a
	// sessiond.AckedReplayGuard, redisstore, records them with
	// RememberOnceAcked, so a failover cannot forget one); nil remembers
	// them in this node's memory only.
	Replay sessiond.ReplayGuard
	Events sessiond.EventSink // nil records nothing
	// BearerToken, when set, must be presented as Authorization: Bearer.
	BearerToken string
	MaxAge      time.Duration // oldest iat accepted on a pushed SET; default DefaultMaxAge
	// PollMaxAge is the oldest iat accepted on a polled SET; default
	// DefaultPollMaxAge. A transmitter signs a SET when the event happens
	// and keeps it queued until acknowledged (RFC 8936), so after an
	// outage of sessiond or of the network a poll hands over SETs signed
	// long ago; refusing them would lose their revocations. Only the
	// configured poll endpoint delivers them, and the jti record lasts as
	// long as the longer window, so replays are still refused.
	PollMaxAge   time.Duration
	MaxBodyBytes int64         // default DefaultMaxBodyBytes
	JWKSInterval time.Duration // least time between two JWKS fetches; default DefaultJWKSInterval
	HTTPClient   *http.Client  // fetches the JWKS; default a client with a 10s timeout
	Clock        sessiond.Clock
	Logger       *slog.Logger
}

// redacted is o with its BearerToken shown as REDACTED (empty when none),
// for the ways Options are printed: the token lets anyone push SETs that
// end sessions. The local type keeps the name ssf.Options in %#v.
func (o Options) redacted() any {
	type Options struct {
		Name, Issuer, Audience, JWKSURL string
		Subject                         SubjectRule
		Revoker                         Revoker
		Replay                          sessiond.ReplayGuard
		Events                          sessiond.EventSink
		BearerToken                     string
		MaxAge, PollMaxAge              time.Duration
		MaxBodyBytes                    int64
		JWKSInterval                    time.Duration
		HTTPClient                      *http.Client
		Clock                           sessiond.Clock
		Logger                          *slog.Logger
	}
	out := Options{Name: o.Name, Issuer: o.Issuer, Audience: o.Audience, JWKSURL: o.JWKSURL, Subject: o.Subject,
		Revoker: o.Revoker, Replay: o.Replay, Events: o.Events, MaxAge: o.MaxAge, PollMaxAge: o.PollMaxAge,
		MaxBodyBytes: o.MaxBodyBytes, JWKSInterval: o.JWKSInterval, HTTPClient: o.HTTPClient, Clock: o.Clock, Logger: o.Logger}
	if o.BearerToken != "" {
		out.BearerToken = "REDACTED"
	}
	return out
}

// Format prints o with its BearerToken as REDACTED, whatever the verb.
func (o Options) Format(f fmt.State, verb rune) {
	fmt.Fprintf(f, fmt.FormatString(f, verb), o.redacted())
}

// LogValue implements slog.LogValuer: o without its BearerToken.
func (o Options) LogValue() slog.Value {
	return slog.AnyValue(o.redacted())
}

// Receiver is the push endpoint of one transmitter (RFC 8935).
type Receiver struct {
	// o is behind a pointer so that printing the Receiver (%v, %+v, a
	// slog attribute) shows an address, never Options.BearerToken: fmt
	// cannot call Options' Format on an unexported field.
	o      *Options
	keys   *keySource
	bearer [sha256.Size]byte

	mu         sync.Mutex   // guards the three below
	unsigned   recordBudget // refused pushes of no SET the transmitter signed
	signed     recordBudget // refused pushes of one it signed, without the bearer token
	unreported int          // refused pushes not recorded since the last event recorded
}

// recordBudget counts the events of one kind recorded in the current
// window (recordWindow).
type recordBudget struct {
	at time.Time // start of the window
	n  int       // recorded in it
}

// take reports whether one more event fits the window at now, and counts it.
func (b *recordBudget) take(now time.Time) bool {
	if now.Sub(b.at) >= recordWindow || now.Before(b.at) {
		b.at, b.n = now, 0
	}
	if b.n >= recordMax {
		return false
	}
	b.n++
	return true
}

// New checks o and returns its Receiver.
func New(o Options) (*Receiver, error) {
	if o.Issuer == "" || o.Audience == "" || o.JWKSURL == "" || o.Revoker == nil {
		return nil, errors.New("ssf: issuer, audience, jwks url and revoker are required")
	}
	if err := o.Subject.Validate(); err != nil {
		return nil, err
	}
	if !slices.Contains(o.Subject.Issuers, o.Issuer) {
		// The transmitter names its users by its own iss (the usual
		// case), and Issuers lists others beside it.
		o.Subject.Issuers = append(slices.Clone(o.Subject.Issuers), o.Issuer)
	}
	if o.MaxAge <= 0 {
		o.MaxAge = DefaultMaxAge
	}
	if o.PollMaxAge <= 0 {
		o.PollMaxAge = DefaultPollMaxAge
	}
	if o.MaxBodyBytes <= 0 {
		o.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if o.JWKSInterval <= 0 {
		o.JWKSInterval = DefaultJWKSInterval
	}
	o.HTTPClient = noRedirects(o.HTTPClient, 10*time.Second)
	if o.Clock == nil {
		o.Clock = sessiond.SystemClock{}
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Replay == nil {
		o.Replay = &sessiond.ReplayMemory{}
	}
	r := &Receiver{o: &o,
		keys: &keySource{url: o.JWKSURL, client: o.HTTPClient, clock: o.Clock, minInterval: o.JWKSInterval, log: o.Logger, name: o.Name},
	}
	if o.BearerToken != "" {
		r.bearer = sha256.Sum256([]byte(o.BearerToken))
	}
	return r, nil
}

// outcome is what one push did, as recorded in the event log.
type outcome struct {
	delivery                 string // push or poll
	bearer                   bool   // the configured bearer token matched
	signed                   bool   // the SET's signature verified
	iss, jti, event, subject string
	session                  sessiond.SessionID
	revoked                  int
}

// ServeHTTP receives one pushed SET: 202 when it was acted upon, 400 (401
// for a missing or wrong bearer token) with the RFC 8935 error otherwise.
func (r *Receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	if req.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	out := outcome{delivery: "push"}
	err := r.receive(req, &out)
	r.record(req.Context(), &out, err)
	var refused *RefusedError
	switch {
	case err == nil:
		w.WriteHeader(http.StatusAccepted)
	case errors.As(err, &refused):
		status := http.StatusBadRequest
		if errors.Is(err, ErrUnauthorized) {
			w.Header().Set("WWW-Authenticate", `Bearer realm="ssf"`)
			status = http.StatusUnauthorized
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_ = json.NewEncoder(w).Encode(map[string]string{"err": refused.Code, "description": refused.Reason})
	default: // the store or the JWKS could not be reached: the transmitter retries
		r.o.Logger.Log(req.Context(), unavailableLevel(req.Context(), err), "ssf: receive", "receiver", r.o.Name, "err", err)
		http.Error(w, "temporarily unavailable", http.StatusServiceUnavailable)
	}
}

// unavailableLevel is the level of a push answered 503 for err: ERROR
// only for a fault of this side that nothing else logged. A transmitter
// that hung up (its request's context ended), a kid not in the set
// fetched less than JWKSInterval ago (anyone can name one) and a JWKS
// fetch that failed (the fetch logged it, once) are INFO.
func unavailableLevel(ctx context.Context, err error) slog.Level {
	var fetch *fetchError
	if ctx.Err() != nil || errors.Is(err, errKeyNotFetchedYet) || errors.As(err, &fetch) {
		return slog.LevelInfo
	}
	return slog.LevelError
}

func (r *Receiver) record(ctx context.Context, out *outcome, err error) {
	unreported, ok := r.allowRecord(out, err)
	if !ok {
		return
	}
	d := map[string]any{"receiver": r.o.Name, "outcome": "accepted", "delivery": out.delivery}
	if unreported > 0 {
		d["unreported"] = unreported
	}
	for k, v := range map[string]string{"iss": out.iss, "jti": out.jti, "event": out.event} {
		if v != "" {
			d[k] = v
		}
	}
	var refused *RefusedError
	switch {
	case err == nil:
		d["revoked"] = out.revoked
	case errors.As(err, &refused):
		d["outcome"], d["err"], d["reason"] = "refused", refused.Code, refused.Reason
	default:
		d["outcome"], d["reason"] = "failed", err.Error()
	}
	r.o.Logger.InfoContext(ctx, "ssf: SET received", "receiver", r.o.Name, "outcome", d["outcome"], "reason", d["reason"])
	if r.o.Events == nil {
		return
	}
	now := r.o.Clock.Now().UTC()
	e := sessiond.Event{ID: sessiond.NewEventID(now), Time: now, Type: EventSETReceived, Subject: out.subject, SessionID: out.session, Details: d}
	if err := r.o.Events.Record(ctx, e); err != nil {
		r.o.Logger.ErrorContext(ctx, "ssf: record event", "err", err)
	}
}

// allowRecord reports whether the outcome of a push is recorded, within the
// bounds above, and how many refused pushes were not since the last event
// recorded.
func (r *Receiver) allowRecord(out *outcome, err error) (unreported int, ok bool) {
	var budget *recordBudget
	var refused *RefusedError
	switch {
	case err == nil || out.delivery != "push" || out.bearer:
	case !out.signed:
		budget = &r.unsigned
	case errors.As(err, &refused): // not a failure of the store: that is recorded
		budget = &r.signed
	}
	now := r.o.Clock.Now()
	r.mu.Lock()
	defer r.mu.Unlock()
	if budget != nil && !budget.take(now) {
		r.unreported++
		return 0, false
	}
	unreported, r.unreported = r.unreported, 0
	return unreported, true
}

func (r *Receiver) authorized(req *http.Request) bool {
	if r.o.BearerToken == "" {
		return true
	}
	// One Authorization header, its scheme matched without regard to case
	// (RFC 9110 §11.1), as the API reads its keys: with two, which one a
	// proxy or the transmitter meant is a guess.
	h := req.Header.Values("Authorization")
	if len(h) != 1 {
		return false
	}
	scheme, tok, ok := strings.Cut(h[0], " ")
	got := sha256.Sum256([]byte(strings.TrimLeft(tok, " ")))
	return ok && strings.EqualFold(scheme, "Bearer") && subtle.ConstantTimeCompare(got[:], r.bearer[:]) == 1
}

// claims are the members of a SET sessiond reads.
type claims struct {
	Iss    string                     `json:"iss"`
	Aud    json.RawMessage            `json:"aud"`
	Iat    *int64                     `json:"iat"`
	Exp    *int64                     `json:"exp"`
	Nbf    *int64                     `json:"nbf"`
	Jti    string                     `json:"jti"`
	SubID  json.RawMessage            `json:"sub_id"`
	Events map[string]json.RawMessage `json:"events"`
}

func (r *Receiver) receive(req *http.Request, out *outcome) error {
	if !r.authorized(req) {
		return refuse(CodeAuthenticationFailed, ErrUnauthorized, "missing or wrong bearer token")
	}
	out.bearer = r.o.BearerToken != ""
	if mt, _, err := mime.ParseMediaType(req.Header.Get("Content-Type")); err != nil || mt != "application/secevent+jwt" {
		return refuse(CodeInvalidRequest, ErrMalformed, "content type must be application/secevent+jwt")
	}
	body, err := io.ReadAll(io.LimitReader(req.Body, r.o.MaxBodyBytes+1))
	if err != nil {
		return refuse(CodeInvalidRequest, ErrMalformed, "body unreadable")
	}
	if int64(len(body)) > r.o.MaxBodyBytes {
		return refuse(CodeInvalidRequest, ErrMalformed, fmt.Sprintf("body larger than %d bytes", r.o.MaxBodyBytes))
	}
	return r.process(req.Context(), strings.TrimSpace(string(body)), r.o.MaxAge, out)
}

// process verifies one SET and acts on it, whichever way it came, refusing
// it when its iat is older than maxAge (the delivery's window): nil when
// acted upon, a *RefusedError when refused, another error when the JWKS or
// the store failed (the transmitter should send it again).
func (r *Receiver) process(ctx context.Context, set string, maxAge time.Duration, out *outcome) error {
	if int64(len(set)) > r.o.MaxBodyBytes {
		return refuse(CodeInvalidRequest, ErrMalformed, fmt.Sprintf("SET larger than %d bytes", r.o.MaxBodyBytes))
	}
	jws, err := jose.ParseSignedCompact(set, algorithms)
	if err != nil {
		return refuse(CodeInvalidRequest, ErrMalformed, "not a compact JWS signed with RS256, ES256 or EdDSA")
	}
	h := jws.Signatures[0].Protected
	if typ, _ := h.ExtraHeaders[jose.HeaderType].(string); !strings.EqualFold(typ, "secevent+jwt") && !strings.EqualFold(typ, "application/secevent+jwt") {
		return refuse(CodeInvalidRequest, ErrMalformed, "typ header must be secevent+jwt")
	}
	if _, ok := h.ExtraHeaders["crit"]; ok {
		// go-jose would refuse it at verification, reported as a
		// signature that does not verify; the SET is at fault, not the
		// key. No extension (RFC 7515 §4.1.11) is understood here.
		return refuse(CodeInvalidRequest, ErrMalformed, "crit header names an extension sessiond does not understand")
	}
	keys, err := r.keys.keys(ctx, h.KeyID)
	if err != nil {
		return err
	}
	var payload []byte
	weak := false // a key of the kid skipped for its size
	for _, k := range keys {
		// A key for another algorithm, or one the provider published for
		// encryption (RFC 7517 §4.2), verifies nothing.
		if k.Algorithm != "" && k.Algorithm != h.Algorithm || k.Use != "" && k.Use != "sig" {
			continue
		}
		// Nor does an RSA key under 2048 bits (NIST SP 800-131A), the floor
		// DPoP and DBSC hold client keys to.
		if rk, ok := k.Key.(*rsa.PublicKey); ok && rk.N.BitLen() < minRSABits {
			weak = true
			continue
		}
		if p, err := jws.Verify(k.Key); err == nil {
			payload = p
			break
		}
	}
	switch {
	case len(keys) == 0:
		return refuse(CodeInvalidKey, ErrKey, "no key of the transmitter's JWKS has this kid")
	case payload == nil && weak:
		return refuse(CodeAuthenticationFailed, ErrSignature, "the transmitter's key for this kid is RSA under 2048 bits, which verifies nothing")
	case payload == nil:
		return refuse(CodeAuthenticationFailed, ErrSignature, "signature does not verify with the transmitter's keys")
	}
	out.signed = true
	// Names are case-sensitive and a claim set holds each once (RFC 7519
	// §4), where encoding/json takes "ISS" or "iſs" for iss and keeps the
	// last of two: the transmitter's audit, another receiver, would read
	// another claim than this one acts on. Such a SET is refused, at any
	// depth for two of one name, and for the names sessiond reads (claims,
	// the event's subject, the identifier's members) in other letters; so
	// is one whose strings encoding/json would repair (wellFormed).
	if !wellFormed(payload) {
		return refuse(CodeInvalidRequest, ErrMalformed, "the claims are not valid UTF-8 (an invalid byte sequence or a lone surrogate escape)")
	}
	if !distinctNames(payload) {
		return refuse(CodeInvalidRequest, ErrMalformed, "a name appears twice in one object of the claims")
	}
	if name := caseVariant(payload, reflect.TypeFor[claims]()); name != "" {
		return refuse(CodeInvalidRequest, ErrMalformed, "a claim name differs from "+name+" only in letter case (names are case-sensitive)")
	}
	var c claims
	if err := json.Unmarshal(payload, &c); err != nil {
		// A claim of the wrong type (iat as a string, a fraction) is named:
		// the field's name is sessiond's own, never the sender's text.
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) && slices.Contains([]string{"iss", "aud", "iat", "exp", "nbf", "jti", "sub_id", "events"}, te.Field) {
			return refuse(CodeInvalidRequest, ErrMalformed, "claim "+te.Field+" is not of its type")
		}
		return refuse(CodeInvalidRequest, ErrMalformed, "claims are not a JSON object")
	}
	out.iss, out.jti = c.Iss, c.Jti
	if c.Iss != r.o.Issuer {
		return refuse(CodeInvalidIssuer, ErrIssuer, "iss is not the configured issuer")
	}
	if !audienceHolds(c.Aud, r.o.Audience) {
		return refuse(CodeInvalidAudience, ErrAudience, "aud does not hold the configured audience")
	}
	if c.Jti == "" || len(c.Jti) > 256 {
		return refuse(CodeInvalidRequest, ErrMalformed, "jti missing or longer than 256 bytes")
	}
	now := r.o.Clock.Now()
	if c.Iat == nil {
		return refuse(CodeInvalidRequest, ErrStale, "iat missing")
	}
	iat := unixTime(*c.Iat)
	if iat.Before(now.Add(-maxAge)) || iat.After(now.Add(futureSkew)) {
		return refuse(CodeInvalidRequest, ErrStale, "iat outside the accepted window")
	}
	// SSF 1.0 (§4, the "exp" Claim) says a SET carries no exp, and none
	// is needed to act on it; but a JWT whose exp has passed, or whose nbf
	// is to come, MUST NOT be accepted (RFC 7519 §4.1.4, §4.1.5): a
	// transmitter that sets them means it. The skew is iat's.
	if c.Exp != nil && !now.Before(unixTime(*c.Exp).Add(futureSkew)) {
		return refuse(CodeInvalidRequest, ErrExpired, "exp has passed")
	}
	if c.Nbf != nil && unixTime(*c.Nbf).After(now.Add(futureSkew)) {
		return refuse(CodeInvalidRequest, ErrExpired, "nbf is in the future")
	}
	if len(c.Events) != 1 {
		return refuse(CodeInvalidRequest, ErrEventType, "events must hold exactly one event")
	}
	var typ string
	var ev json.RawMessage
	for typ, ev = range c.Events {
	}
	out.event = typ
	if !slices.Contains(supported, typ) {
		return refuse(CodeInvalidRequest, ErrEventType, "unsupported event type")
	}
	var inEvent struct {
		Subject json.RawMessage `json:"subject"`
	}
	if json.Unmarshal(ev, &inEvent) != nil {
		return refuse(CodeInvalidRequest, ErrMalformed, "event payload is not a JSON object")
	}
	if name := caseVariant(ev, reflect.TypeOf(inEvent)); name != "" {
		return refuse(CodeInvalidRequest, ErrMalformed, "a member name of the event differs from "+name+" only in letter case (names are case-sensitive)")
	}
	// A member set to null is one not given: a RawMessage holds "null".
	c.SubID, inEvent.Subject = nonNull(c.SubID), nonNull(inEvent.Subject)
	subj := c.SubID
	if len(inEvent.Subject) > 0 { // CAEP and RISC drafts carry it in the event
		subj = inEvent.Subject
	}
	subject, session, err := r.o.Subject.Map(subj)
	if err != nil {
		return refuse(CodeInvalidRequest, err, err.Error())
	}
	if len(c.SubID) > 0 && len(inEvent.Subject) > 0 {
		// Both given: they must name the same principal, or one reader of
		// the SET (the transmitter's audit, another receiver) takes it for
		// another user's than this one acts on.
		if s2, sess2, err := r.o.Subject.Map(c.SubID); err != nil || s2 != subject || sess2 != session {
			return refuse(CodeInvalidRequest, ErrSubject, "sub_id and the event's subject name different subjects")
		}
	}
	out.subject, out.session = subject, session
	// Remembered before acting, atomically on every node: of two copies
	// racing (a push retried, a poll answered to two nodes) one acts. The
	// record outlives the iat window, past which a copy is refused as
	// stale anyway. A SET whose revocation then fails on a store error is
	// not acted upon when sent again: the store that failed it is the one
	// that would have to forget it. The record lasts for the longer of the
	// push and poll windows, whichever way this copy came: a copy pushed
	// and later polled (or polled by another receiver of the issuer,
	// which shares the key) is still within it. Acked: a record a
	// failover loses would act on the SET again.
	fresh, err := sessiond.RememberAcked(ctx, r.o.Replay, replayKey(c.Iss, c.Jti), now, iat.Add(r.replayWindow()+time.Second))
	if err != nil {
		return fmt.Errorf("ssf: replay record: %w", err)
	}
	if !fresh {
		return refuse(CodeInvalidRequest, ErrReplayed, "jti already received")
	}
	return r.act(ctx, typ, subject, session, out)
}

// replayWindow is how long after its iat a SET's jti is remembered: the
// longest window in which any delivery accepts it.
func (r *Receiver) replayWindow() time.Duration {
	return max(r.o.MaxAge, r.o.PollMaxAge)
}

func (r *Receiver) act(ctx context.Context, typ, subject string, session sessiond.SessionID, out *outcome) error {
	if typ == CAEPSessionRevoked && session != "" {
		s, err := r.o.Revoker.Get(ctx, session)
		switch {
		case errors.Is(err, sessiond.ErrNotFound):
			return nil // gone already: nothing to end
		case err != nil:
			return err
		case s.Subject != subject:
			return refuse(CodeAccessDenied, ErrForeign, "the session does not belong to the subject")
		case s.Revoked():
			return nil
		}
		if err := r.o.Revoker.Revoke(ctx, session, ReasonSSF); err != nil && !errors.Is(err, sessiond.ErrNotFound) {
			return err
		}
		out.revoked = 1
		return nil
	}
	n, err := r.o.Revoker.RevokeSubject(ctx, subject, "", ReasonSSF)
	var arg *sessiond.ArgumentError
	if errors.As(err, &arg) {
		return refuse(CodeInvalidRequest, ErrSubject, "mapped subject is not a valid sessiond subject")
	}
	out.revoked = n
	return err
}

// nonNull is raw, or nil when it is the JSON null.
func nonNull(raw json.RawMessage) json.RawMessage {
	if string(raw) == "null" {
		return nil
	}
	return raw
}

func audienceHolds(raw json.RawMessage, want string) bool {
	var one string
	if json.Unmarshal(raw, &one) == nil {
		return one == want
	}
	var many []string
	return json.Unmarshal(raw, &many) == nil && slices.Contains(many, want)
}

// noRedirects is a copy of c (a client with timeout when nil) that never
// follows a redirect, whatever c's CheckRedirect: a provider's https
// endpoint that answers 3xx must not lead the JWKS fetch, a poll (with its
// Authorization header) or a push to plain http or an internal address.
// The 3xx answer is an error like any other.
func noRedirects(c *http.Client, timeout time.Duration) *http.Client {
	var out http.Client
	if c != nil {
		out = *c
	} else {
		out.Timeout = timeout
	}
	out.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &out
}

// Bounds of a NumericDate read by unixTime: the years 1 and 9999.
const (
	minUnix = -62135596800
	maxUnix = 253402300799
)

// unixTime is the NumericDate s as a time, held to the years 1–9999.
// time.Unix wraps to the far past past the year 292 billion (the top 62
// billion seconds of an int64), where an nbf or iat would read as passed
// and an exp as expired; held, each keeps its side of any real clock.
func unixTime(s int64) time.Time {
	return time.Unix(min(max(s, minUnix), maxUnix), 0)
}
