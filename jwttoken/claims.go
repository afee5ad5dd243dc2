package jwttoken

import (
	"bytes"
	"encoding/json"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/sessiond/sessiond"
)

// claims is the JWT claims set of both token kinds. A typed struct rather
// than jwt.MapClaims: decoding is cheaper and a claim of the wrong JSON type
// fails the parse instead of reaching the caller. Times are whole seconds
// as int64, not jwt.NumericDate: decoding skips a nested json.Unmarshal per
// date, a fractional or exponent-form date (which sessiond never writes)
// is malformed, and encoding does not depend on golang-jwt's package-level
// TimePrecision.
type claims struct {
	Issuer    string   `json:"iss"`
	Subject   string   `json:"sub"`
	Audience  audience `json:"aud"`
	ExpiresAt int64    `json:"exp,omitempty"`
	NotBefore int64    `json:"nbf,omitempty"`
	IssuedAt  int64    `json:"iat,omitempty"`
	ID        string   `json:"jti"`
	// ClientID is required in RFC 9068 access tokens; sessiond has one
	// client per audience, so it is the audience.
	ClientID         string          `json:"client_id"`
	SessionID        string          `json:"sid"`
	AuthTime         int64           `json:"auth_time,omitempty"`
	SessionExpiresAt int64           `json:"sess_exp,omitempty"`
	Strategy         string          `json:"sst"`
	Persistent       bool            `json:"persistent,omitempty"`
	StepUp           bool            `json:"step_up,omitempty"`
	Ext              json.RawMessage `json:"ext,omitempty"`
	// Cnf is the RFC 7800 confirmation of a key-bound token (RFC 9449 cnf.jkt).
	Cnf *confirmation `json:"cnf,omitempty"`

	// What Validate checks against, set by Verify; never encoded.
	kind     sessiond.TokenKind
	clientID string
	// now is the time Verify checks at; the keyfunc, which gets the claims
	// but no time, tells with it whether a dropped key is still recent.
	now time.Time
	// dates backs the *jwt.NumericDate the Get methods return, so the
	// validator's calls do not allocate.
	dates [3]jwt.NumericDate
}

// date returns unix as a NumericDate stored in slot i, or nil when the
// claim is absent (zero), which golang-jwt's "required" rules then see.
func (c *claims) date(i int, unix int64) *jwt.NumericDate {
	if unix == 0 {
		return nil
	}
	c.dates[i] = jwt.NumericDate{Time: time.Unix(min(unix, maxUnix), 0)}
	return &c.dates[i]
}

// maxUnix is the last second of the year 9999, where a later date is
// held: past the year 292 billion time.Unix wraps to the far past, where
// an nbf or iat would read as passed and an exp as expired. Held, each
// stays on its side of now (the Node verifier, whose dates are numbers,
// decides the same).
const maxUnix = 253402300799

func (c *claims) GetExpirationTime() (*jwt.NumericDate, error) { return c.date(0, c.ExpiresAt), nil }
func (c *claims) GetIssuedAt() (*jwt.NumericDate, error)       { return c.date(1, c.IssuedAt), nil }
func (c *claims) GetNotBefore() (*jwt.NumericDate, error)      { return c.date(2, c.NotBefore), nil }
func (c *claims) GetIssuer() (string, error)                   { return c.Issuer, nil }
func (c *claims) GetSubject() (string, error)                  { return c.Subject, nil }
func (c *claims) GetAudience() (jwt.ClaimStrings, error)       { return jwt.ClaimStrings(c.Audience), nil }

// Validate checks what golang-jwt's validator does not: the claims sessiond
// requires, and that the token's purpose matches the kind asked for. It
// runs after the signature check, with golang-jwt's own claim checks.
func (c *claims) Validate() error {
	switch {
	case c.Subject == "", c.SessionID == "", c.ID == "", c.IssuedAt == 0, c.ClientID == "", c.Strategy == "":
		return errMissingClaim
	case c.ClientID != c.clientID:
		return errClientID
	case c.ExpiresAt != 0 && c.ExpiresAt < c.IssuedAt:
		return errExpBeforeIat
	case !strategyFits(c.kind, sessiond.Strategy(c.Strategy)):
		return errStrategy
	case len(c.Ext) > 0 && c.Ext[0] != '{':
		return errExt
	}
	return nil
}

// strategyFits reports whether a token of kind may belong to a session of
// strategy s: JWT access tokens exist in the jwt and hybrid strategies, JWT
// refresh tokens only in jwt (hybrid refresh tokens are opaque).
func strategyFits(kind sessiond.TokenKind, s sessiond.Strategy) bool {
	if kind == sessiond.KindRefresh {
		return s == sessiond.StrategyJWT
	}
	return s == sessiond.StrategyJWT || s == sessiond.StrategyHybrid
}

// tokenClaims converts verified claims for the caller.
func (c *claims) tokenClaims() sessiond.TokenClaims {
	return sessiond.TokenClaims{
		ID:               c.ID,
		SessionID:        sessiond.SessionID(c.SessionID),
		Subject:          c.Subject,
		Strategy:         sessiond.Strategy(c.Strategy),
		IssuedAt:         fromUnix(c.IssuedAt),
		ExpiresAt:        fromUnix(c.ExpiresAt),
		AuthTime:         fromUnix(c.AuthTime),
		SessionExpiresAt: fromUnix(c.SessionExpiresAt),
		Persistent:       c.Persistent,
		StepUp:           c.StepUp,
		Claims:           c.Ext,
		KeyThumbprint:    c.Cnf.thumbprint(),
	}
}

func fromUnix(s int64) time.Time {
	if s == 0 {
		return time.Time{}
	}
	return time.Unix(min(s, maxUnix), 0).UTC()
}

func toUnix(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.Unix()
}

// audience is the aud claim: encoded as a plain string when it holds one
// value (RFC 7519 §4.1.3 allows both; jwt.ClaimStrings would need a
// package-level switch for that), decoded from a string or an array.
type audience []string

func (a audience) MarshalJSON() ([]byte, error) {
	if len(a) == 1 {
		return json.Marshal(a[0])
	}
	return json.Marshal([]string(a))
}

func (a *audience) UnmarshalJSON(b []byte) error {
	// Fast path for the one form sessiond writes: a string with no escapes
	// (the decoder has already checked the whole payload is valid JSON).
	if len(b) >= 2 && b[0] == '"' && bytes.IndexByte(b, '\\') < 0 {
		*a = audience{string(b[1 : len(b)-1])}
		return nil
	}
	return (*jwt.ClaimStrings)(a).UnmarshalJSON(b)
}

// confirmation is the cnf claim: the thumbprint of the key the token is bound to.
type confirmation struct {
	JKT string `json:"jkt"`
}

func (c *confirmation) thumbprint() string {
	if c == nil {
		return ""
	}
	return c.JKT
}

func newConfirmation(jkt string) *confirmation {
	if jkt == "" {
		return nil
	}
	return &confirmation{JKT: jkt}
}
