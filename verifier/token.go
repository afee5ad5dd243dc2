package verifier

import (
	"context"
	"crypto"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/internal/jwsshape"
)

// supportedAlgs are the JWS algorithms of sessiond's asymmetric key rings
// (an HS256 ring publishes no keys: its tokens cannot be verified outside).
var supportedAlgs = []string{"EdDSA", "ES256"}

// Access token types (RFC 9068 §2.1 and §4).
const (
	typAccess     = "at+jwt"
	typAccessLong = "application/at+jwt"
)

// tokenClaims is the claims set of a sessiond access token.
type tokenClaims struct {
	Issuer           string           `json:"iss"`
	Subject          string           `json:"sub"`
	Audience         jwt.ClaimStrings `json:"aud"`
	ExpiresAt        int64            `json:"exp"`
	NotBefore        int64            `json:"nbf"`
	IssuedAt         int64            `json:"iat"`
	ID               string           `json:"jti"`
	ClientID         string           `json:"client_id"`
	SessionID        string           `json:"sid"`
	AuthTime         int64            `json:"auth_time"`
	SessionExpiresAt int64            `json:"sess_exp"`
	Strategy         string           `json:"sst"`
	Persistent       bool             `json:"persistent"`
	Ext              json.RawMessage  `json:"ext"`
	Cnf              *confirmation    `json:"cnf"`

	audience string
	dates    [3]jwt.NumericDate
}

func (c *tokenClaims) date(i int, unix int64) *jwt.NumericDate {
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

func (c *tokenClaims) GetExpirationTime() (*jwt.NumericDate, error) {
	return c.date(0, c.ExpiresAt), nil
}
func (c *tokenClaims) GetIssuedAt() (*jwt.NumericDate, error)  { return c.date(1, c.IssuedAt), nil }
func (c *tokenClaims) GetNotBefore() (*jwt.NumericDate, error) { return c.date(2, c.NotBefore), nil }
func (c *tokenClaims) GetIssuer() (string, error)              { return c.Issuer, nil }
func (c *tokenClaims) GetSubject() (string, error)             { return c.Subject, nil }
func (c *tokenClaims) GetAudience() (jwt.ClaimStrings, error)  { return c.Audience, nil }

var errClaims = errors.New("a required claim is missing or wrong")

// Validate runs after golang-jwt's own checks (signature, iss, aud, exp,
// iat): the claims sessiond always writes must be there. sess_exp is
// required as the server requires it (a token without it is past its
// session's absolute expiry there), and ext, when present, must be an
// object (the server refuses null).
func (c *tokenClaims) Validate() error {
	switch {
	case c.Subject == "", c.SessionID == "", c.ID == "", c.IssuedAt <= 0, c.AuthTime <= 0, c.SessionExpiresAt <= 0:
		// Before 1970 is no time sessiond issues; the Node verifier
		// requires each above 0 too.
		return errClaims
	case c.ClientID != c.audience, c.ExpiresAt < c.IssuedAt:
		return errClaims
	case c.Strategy != "hybrid" && c.Strategy != "jwt":
		return errClaims
	case len(c.Ext) > 0 && c.Ext[0] != '{':
		return errClaims
	case c.Cnf != nil && len(c.Cnf.JKT) != jktLen:
		return errClaims // a confirmation this verifier cannot enforce is no token
	}
	return nil
}

// confirmation is the RFC 7800 cnf claim of a key-bound token (RFC 9449
// §6.1: cnf.jkt, the SHA-256 thumbprint of the client's DPoP key).
type confirmation struct {
	JKT string `json:"jkt"`
}

// jktLen is the length of a base64url SHA-256 thumbprint.
const jktLen = 43

func unix(s int64) time.Time {
	if s == 0 {
		return time.Time{}
	}
	return time.Unix(min(s, maxUnix), 0).UTC()
}

// verifySignature parses and checks a token the cache does not hold. The
// cache holds only tokens of the one spelling (jwsshape), under their exact text,
// so another spelling of a cached token misses it and is refused here.
func (v *Verifier) verifySignature(ctx context.Context, token string) (Claims, error) {
	// The one spelling the server's codec admits (docs/jwt.md rules 1
	// and 2): encoding/base64 would skip line breaks.
	if f := jwsshape.Check(token, MaxTokenBytes); f != jwsshape.OK {
		return Claims{}, fmt.Errorf("verifier: %w: %v", sessiond.ErrInvalidToken, f)
	}
	tc := &tokenClaims{audience: v.opts.Audience}
	var kid string
	_, err := v.parser.ParseWithClaims(token, tc, func(t *jwt.Token) (any, error) {
		k, id, err := v.key(ctx, t)
		kid = id
		return k, err
	})
	if err != nil {
		if errors.Is(err, jwt.ErrTokenExpired) && !errors.Is(err, jwt.ErrTokenSignatureInvalid) && onlyExpired(err) {
			return Claims{}, fmt.Errorf("verifier: %w", sessiond.ErrExpired)
		}
		return Claims{}, fmt.Errorf("verifier: %w: %v", sessiond.ErrInvalidToken, err)
	}
	// The server's own test of a device binding, on the claims the token
	// carries (the session's, signed in by issueAccess).
	if (&sessiond.Session{Claims: tc.Ext}).DeviceBound() {
		return Claims{}, fmt.Errorf("verifier: %w: %w", sessiond.ErrInvalidToken, ErrDeviceBound)
	}
	c := Claims{Subject: tc.Subject, SessionID: tc.SessionID, TokenID: tc.ID, Strategy: tc.Strategy,
		IssuedAt: unix(tc.IssuedAt), ExpiresAt: unix(tc.ExpiresAt), AuthTime: unix(tc.AuthTime),
		SessionExpiresAt: unix(tc.SessionExpiresAt), Persistent: tc.Persistent, kid: kid}
	if tc.Cnf != nil {
		c.KeyThumbprint = tc.Cnf.JKT
	}
	if len(tc.Ext) > 0 {
		c.Custom = tc.Ext
	}
	return c, nil
}

// onlyExpired: golang-jwt joins every failed claim check; a token is
// "expired" only when expiry is all that is wrong with it.
func onlyExpired(err error) bool {
	var joined interface{ Unwrap() []error }
	for e := err; e != nil; {
		if errors.As(e, &joined) {
			for _, x := range joined.Unwrap() {
				if !errors.Is(x, jwt.ErrTokenExpired) && !errors.Is(x, jwt.ErrTokenInvalidClaims) {
					return false
				}
			}
			return true
		}
		e = errors.Unwrap(e)
	}
	return true
}

// key is the keyfunc: it vets the JOSE header (before the signature is
// checked, so it trusts nothing in it) and returns the key of its kid,
// fetching the JWKS again (rate-limited) for a kid it does not know.
func (v *Verifier) key(ctx context.Context, t *jwt.Token) (crypto.PublicKey, string, error) {
	var typ, kid string
	for name, val := range t.Header {
		switch name {
		case "alg":
		case "typ":
			typ, _ = val.(string)
		case "kid":
			kid, _ = val.(string)
		default:
			// jku, jwk, x5u, x5c (keys come only from the JWKS, RFC 8725
			// §3.10), crit (no extension is understood), anything else
			// sessiond never writes.
			return nil, "", fmt.Errorf("header %.32q is not accepted", name)
		}
	}
	if typ != typAccess && typ != typAccessLong {
		return nil, "", errors.New("not an access token (typ)")
	}
	if kid == "" || len(kid) > 256 {
		return nil, "", errors.New("no kid")
	}
	k, ok := v.keys.get(kid)
	if !ok && !v.state.keyRetired(kid) {
		v.refetchKeys(ctx)
		k, ok = v.keys.get(kid)
	}
	if !ok {
		return nil, kid, errors.New("unknown or retired kid")
	}
	if k.alg != t.Method.Alg() {
		return nil, kid, errors.New("alg does not match the key")
	}
	return k.pub, kid, nil
}
