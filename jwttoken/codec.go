package jwttoken

import (
	"bytes"
	"encoding/json"
	"fmt"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/internal/jwsshape"
)

var _ sessiond.SignedTokens = (*Codec)(nil)

// MaxTokenSize is the largest token Verify looks at, and Sign makes.
const MaxTokenSize = 8 << 10

// Token types (the JOSE typ header), one per kind, so that validation of
// access and refresh tokens is mutually exclusive (RFC 8725 §3.11).
const (
	typAccess     = "at+jwt"             // RFC 9068 §2.1
	typAccessLong = "application/at+jwt" // accepted too, RFC 9068 §4
	typRefresh    = "rt+jwt"
)

// numParserOpts is the number of parser options fixed at New.
const numParserOpts = 7

// Options configure a Codec.
type Options struct {
	// Issuer is the iss claim of every token; Verify wants it exactly.
	// Required.
	Issuer string
	// Audience is the aud (and client_id) claim of every token; Verify
	// wants it among the token's audiences. Required.
	Audience string
	// Leeway is the clock-skew allowance on exp, nbf and iat. Zero value:
	// none. At most MaxLeeway.
	Leeway time.Duration
}

// Codec signs and verifies sessiond's JWT access and refresh tokens with a
// KeyRing. It implements sessiond.SignedTokens and is safe for concurrent
// use.
type Codec struct {
	ring     *KeyRing
	issuer   string
	audience audience // one element, shared read-only by every Sign
	leeway   time.Duration

	// parserOpts are the per-codec parser options; Verify adds the time.
	parserOpts [numParserOpts]jwt.ParserOption
	// keyfuncs, indexed by sessiond.TokenKind, are built once so Verify
	// does not allocate a closure per call.
	keyfuncs [sessiond.KindRefresh + 1]jwt.Keyfunc
}

// New returns a Codec signing with ring's current key and verifying with
// any key of ring. It errors (sessiond.ErrInvalidArgument) when Issuer or
// Audience is empty or Leeway is outside [0, MaxLeeway].
func New(ring *KeyRing, opts Options) (*Codec, error) {
	switch {
	case ring == nil:
		return nil, fmt.Errorf("jwttoken: new: %w", &sessiond.ArgumentError{Field: "ring", Msg: "required"})
	case opts.Issuer == "":
		return nil, fmt.Errorf("jwttoken: new: %w", &sessiond.ArgumentError{Field: "issuer", Msg: "required"})
	case opts.Audience == "":
		return nil, fmt.Errorf("jwttoken: new: %w", &sessiond.ArgumentError{Field: "audience", Msg: "required"})
	case opts.Leeway < 0 || opts.Leeway > MaxLeeway:
		return nil, fmt.Errorf("jwttoken: new: %w", &sessiond.ArgumentError{Field: "leeway", Msg: fmt.Sprintf("must be between 0 and %s, got %s", MaxLeeway, opts.Leeway)})
	}
	c := &Codec{ring: ring, issuer: opts.Issuer, audience: audience{opts.Audience}, leeway: opts.Leeway}
	c.parserOpts = [numParserOpts]jwt.ParserOption{
		// The algorithms the ring can hold; keyfunc then ties each kid to
		// its one algorithm (RFC 8725 §3.1).
		jwt.WithValidMethods(ring.algs),
		jwt.WithIssuer(opts.Issuer),
		jwt.WithAudience(opts.Audience),
		jwt.WithLeeway(opts.Leeway),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		// Non-zero trailing bits would give one token several spellings.
		jwt.WithStrictDecoding(),
	}
	for _, kind := range []sessiond.TokenKind{sessiond.KindAccess, sessiond.KindRefresh} {
		c.keyfuncs[kind] = func(t *jwt.Token) (any, error) { return c.key(kind, t) }
	}
	return c, nil
}

// Leeway returns the clock-skew allowance Verify grants.
func (c *Codec) Leeway() time.Duration { return c.leeway }

// MaxTokenLifetime returns the longest token Sign accepts (the key ring's
// MaxTokenLifetime), so sessiond.New can refuse lifetimes the ring cannot
// sign at start rather than at the first login.
func (c *Codec) MaxTokenLifetime() time.Duration { return c.ring.MaxTokenLifetime() }

// Sign returns a signed token of kind carrying tc, made with the ring's
// signer at tc.IssuedAt (the next key once its activation time has come,
// see KeyRing.Schedule). tc.ID (jti) is generated when empty. Times are truncated to
// whole seconds. Errors match sessiond.ErrInvalidArgument when tc cannot
// make a valid token: a required field is missing, the lifetime exceeds the
// ring's MaxTokenLifetime, Claims is not a JSON object, or the token would
// be larger than MaxTokenSize. While the ring's signing is held
// (KeyRing.HoldSigning) it fails with the error given there.
func (c *Codec) Sign(kind sessiond.TokenKind, tc sessiond.TokenClaims) (sessiond.Secret, error) {
	typ, err := c.checkClaims(kind, tc)
	if err == nil {
		err = c.ring.signingHeld()
	}
	if err != nil {
		return "", fmt.Errorf("jwttoken: sign %s token: %w", kind, err)
	}
	jti := tc.ID
	if jti == "" {
		jti = randomID()
	}
	cl := &claims{
		Issuer:           c.issuer,
		Subject:          tc.Subject,
		Audience:         c.audience,
		ExpiresAt:        tc.ExpiresAt.Unix(),
		IssuedAt:         tc.IssuedAt.Unix(),
		ID:               jti,
		ClientID:         c.audience[0],
		SessionID:        string(tc.SessionID),
		AuthTime:         toUnix(tc.AuthTime),
		SessionExpiresAt: toUnix(tc.SessionExpiresAt),
		Strategy:         string(tc.Strategy),
		Persistent:       tc.Persistent,
		StepUp:           tc.StepUp,
		Ext:              extClaims(tc.Claims),
		Cnf:              newConfirmation(tc.KeyThumbprint),
	}
	k := c.ring.signerAt(tc.IssuedAt)
	t := &jwt.Token{
		Header: map[string]any{"alg": k.method.Alg(), "kid": k.kid, "typ": typ},
		Claims: cl,
		Method: k.method,
	}
	s, err := t.SignedString(k.signKey)
	if err != nil {
		return "", fmt.Errorf("jwttoken: sign %s token: %w", kind, err)
	}
	if len(s) > MaxTokenSize {
		return "", fmt.Errorf("jwttoken: sign %s token: %w", kind, &sessiond.ArgumentError{Field: "claims", Msg: fmt.Sprintf("token of %d bytes exceeds %d", len(s), MaxTokenSize)})
	}
	return sessiond.Secret(s), nil
}

// checkClaims returns the typ for kind, or why tc cannot be signed.
func (c *Codec) checkClaims(kind sessiond.TokenKind, tc sessiond.TokenClaims) (string, error) {
	arg := func(field, msg string) error { return &sessiond.ArgumentError{Field: field, Msg: msg} }
	var typ string
	switch kind {
	case sessiond.KindAccess:
		typ = typAccess
	case sessiond.KindRefresh:
		typ = typRefresh
	default:
		return "", arg("kind", "unknown token kind")
	}
	exp, iat := tc.ExpiresAt.Unix(), tc.IssuedAt.Unix()
	switch {
	case tc.Subject == "":
		return "", arg("claims.subject", "required")
	case tc.SessionID == "":
		return "", arg("claims.session_id", "required")
	case !strategyFits(kind, tc.Strategy):
		return "", arg("claims.strategy", fmt.Sprintf("%q has no JWT %s tokens", tc.Strategy, kind))
	case iat <= 0:
		return "", arg("claims.issued_at", "required, after 1970")
	case !tc.ExpiresAt.After(tc.IssuedAt):
		return "", arg("claims.expires_at", "must be after issued_at")
	case exp-iat > int64(c.ring.maxLifetime/time.Second):
		// In seconds: a Duration would overflow for far-future exp.
		return "", arg("claims.expires_at", fmt.Sprintf("lifetime exceeds the key ring's MaxTokenLifetime %s", c.ring.maxLifetime))
	case !validExt(tc.Claims):
		return "", arg("claims.claims", "must be a JSON object")
	}
	return typ, nil
}

// extClaims returns the custom claims to embed, or nil when there are none.
func extClaims(raw json.RawMessage) json.RawMessage {
	t := bytes.TrimSpace(raw)
	if len(t) == 0 || bytes.Equal(t, []byte("null")) || bytes.Equal(t, []byte("{}")) {
		return nil
	}
	return t
}

func validExt(raw json.RawMessage) bool {
	t := extClaims(raw)
	return t == nil || t[0] == '{' && json.Valid(t)
}

// Verify checks tok as a token of kind at now and returns its claims. It
// fails with an error matching sessiond.ErrExpired when the token is past
// exp (plus leeway) and nothing else is wrong with it, and with one
// matching sessiond.ErrInvalidToken for any other reason. With ErrExpired
// it also returns the (authentic) claims, so a stale token can still name
// the session to revoke; they must not be taken as proof of a live session.
// No error quotes the token.
func (c *Codec) Verify(kind sessiond.TokenKind, tok sessiond.Secret, now time.Time) (sessiond.TokenClaims, error) {
	if kind != sessiond.KindAccess && kind != sessiond.KindRefresh {
		return sessiond.TokenClaims{}, errKind
	}
	if err := checkShape(string(tok)); err != nil {
		return sessiond.TokenClaims{}, err
	}
	var opts [numParserOpts + 1]jwt.ParserOption
	copy(opts[:], c.parserOpts[:])
	opts[numParserOpts] = jwt.WithTimeFunc(func() time.Time { return now })
	cl := &claims{kind: kind, clientID: c.audience[0], now: now}
	if _, err := jwt.NewParser(opts[:]...).ParseWithClaims(string(tok), cl, c.keyfuncs[kind]); err != nil {
		err = verifyError(err)
		if err == errExpired {
			// Signature and every other check passed: the claims are
			// authentic, just stale. Callers revoking by token (RFC 7009,
			// logout) need the session they name.
			return cl.tokenClaims(), err
		}
		return sessiond.TokenClaims{}, err
	}
	return cl.tokenClaims(), nil
}

// checkShape admits only the JWS compact serialisation (jwsshape): the
// verifier SDK runs the same check, so both refuse the same spellings.
func checkShape(s string) error {
	switch jwsshape.Check(s, MaxTokenSize) {
	case jwsshape.OK:
		return nil
	case jwsshape.Empty:
		return errEmpty
	case jwsshape.TooLarge:
		return errTooLarge
	case jwsshape.Charset:
		return errCharset
	default:
		return errSegments
	}
}

// key is the keyfunc: it vets the JOSE header and returns the verification
// key for its kid. It runs before the signature is checked, so it trusts
// nothing in the header.
func (c *Codec) key(kind sessiond.TokenKind, t *jwt.Token) (any, error) {
	var typ, kid string
	var bad error // ranked so the reason does not depend on map order
	for name, v := range t.Header {
		switch name {
		case "alg":
			// golang-jwt has matched it against WithValidMethods.
		case "typ":
			typ, _ = v.(string)
		case "kid":
			kid, _ = v.(string)
		case "jku", "jwk", "x5u", "x5c":
			// Keys come only from the ring (RFC 8725 §3.10): never fetched,
			// never trusted from the token itself.
			return nil, errKeyHeader
		case "crit":
			bad = errCritHeader // we understand no extension (RFC 7515 §4.1.11)
		default:
			// We only ever write alg, kid and typ.
			if bad == nil {
				bad = errUnknownHeader
			}
		}
	}
	if bad != nil {
		return nil, bad
	}
	switch kind {
	case sessiond.KindAccess:
		if typ != typAccess && typ != typAccessLong {
			return nil, errType
		}
	case sessiond.KindRefresh:
		if typ != typRefresh {
			return nil, errType
		}
	}
	if kid == "" {
		return nil, errNoKid
	}
	var now time.Time
	if cl, ok := t.Claims.(*claims); ok {
		now = cl.now
	}
	k, err := c.ring.find(kid, now)
	if err != nil {
		return nil, err
	}
	if t.Method.Alg() != string(k.alg) {
		return nil, errKeyAlg
	}
	return k.verifyKey, nil
}
