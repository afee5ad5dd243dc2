package jwttoken_test

import (
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/golang-jwt/jwt/v5"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/jwttoken"
)

const (
	testIssuer   = "https://sessiond.test"
	testAudience = "app.test"
	maxLifetime  = 24 * time.Hour
)

// t0 is the "now" of every test that does not say otherwise.
var t0 = time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)

func at(d time.Duration) time.Time { return t0.Add(d) }

// hmacSecret is a fixed 32-byte HS256 secret for tests.
var hmacSecret = []byte("0123456789abcdef0123456789abcdef")

func newRing(t testing.TB, alg jwttoken.Algorithm) *jwttoken.KeyRing {
	t.Helper()
	opts := jwttoken.RingOptions{Algorithm: alg, MaxTokenLifetime: maxLifetime}
	if alg == jwttoken.HS256 {
		opts.HMACSecret = hmacSecret
	}
	r, err := jwttoken.NewRing(at(-time.Hour), opts)
	if err != nil {
		t.Fatalf("NewRing(%s) = %v", alg, err)
	}
	return r
}

// eachAlg runs f as one subtest per signing algorithm, on a fresh ring
// of that algorithm and a codec on it.
func eachAlg(t *testing.T, f func(t *testing.T, alg jwttoken.Algorithm, ring *jwttoken.KeyRing, c *jwttoken.Codec)) {
	for _, alg := range []jwttoken.Algorithm{jwttoken.EdDSA, jwttoken.ES256, jwttoken.HS256} {
		t.Run(string(alg), func(t *testing.T) {
			ring := newRing(t, alg)
			f(t, alg, ring, newCodec(t, ring, 0))
		})
	}
}

func newCodec(t testing.TB, r *jwttoken.KeyRing, leeway time.Duration) *jwttoken.Codec {
	t.Helper()
	c, err := jwttoken.New(r, jwttoken.Options{Issuer: testIssuer, Audience: testAudience, Leeway: leeway})
	if err != nil {
		t.Fatalf("New = %v", err)
	}
	return c
}

// tokenClaims are the claims of a typical token live at now.
func tokenClaims(now time.Time) sessiond.TokenClaims {
	return sessiond.TokenClaims{
		ID:               "jti-1",
		SessionID:        "sid-1",
		Subject:          "user-1",
		Strategy:         sessiond.StrategyJWT,
		IssuedAt:         now.Add(-time.Minute),
		ExpiresAt:        now.Add(14 * time.Minute),
		AuthTime:         now.Add(-time.Hour),
		SessionExpiresAt: now.Add(7 * time.Hour),
	}
}

func sign(t testing.TB, c *jwttoken.Codec, kind sessiond.TokenKind, tc sessiond.TokenClaims) sessiond.Secret {
	t.Helper()
	tok, err := c.Sign(kind, tc)
	if err != nil {
		t.Fatalf("Sign(%s) = %v", kind, err)
	}
	return tok
}

// currentKid is the kid of the ring's signer.
func currentKid(t testing.TB, r *jwttoken.KeyRing) string {
	t.Helper()
	for _, k := range r.Keys() {
		if k.Current {
			return k.ID
		}
	}
	t.Fatal("ring has no current key")
	return ""
}

// privateKeys reads every key of the ring, by kid, the way an operator's
// tool would: from MarshalPrivate with go-jose.
func privateKeys(t testing.TB, r *jwttoken.KeyRing) map[string]any {
	t.Helper()
	b, err := r.MarshalPrivate()
	if err != nil {
		t.Fatalf("MarshalPrivate = %v", err)
	}
	var doc struct {
		Keys []struct {
			JWK jose.JSONWebKey `json:"jwk"`
		} `json:"keys"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatalf("decode ring document: %v", err)
	}
	out := map[string]any{}
	for _, k := range doc.Keys {
		out[k.JWK.KeyID] = k.JWK.Key
	}
	return out
}

// publicKeys reads the ring's JWKS, by kid.
func publicKeys(t testing.TB, r *jwttoken.KeyRing) map[string]jose.JSONWebKey {
	t.Helper()
	b, err := r.JWKS()
	if err != nil {
		t.Fatalf("JWKS = %v", err)
	}
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(b, &set); err != nil {
		t.Fatalf("decode JWKS: %v", err)
	}
	out := map[string]jose.JSONWebKey{}
	for _, k := range set.Keys {
		out[k.KeyID] = k
	}
	return out
}

// craft signs any header and claims with golang-jwt, bypassing the codec,
// so tests control every byte a verifier sees.
func craft(t testing.TB, header, claims map[string]any, method jwt.SigningMethod, key any) string {
	t.Helper()
	tok := &jwt.Token{Header: header, Claims: jwt.MapClaims(claims), Method: method}
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatalf("craft token: %v", err)
	}
	return s
}

func b64(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }

// segments splits a compact token.
func segments(t testing.TB, tok string) (header, payload, sig string) {
	t.Helper()
	p := strings.Split(tok, ".")
	if len(p) != 3 {
		t.Fatalf("token has %d segments", len(p))
	}
	return p[0], p[1], p[2]
}

// decodeJSON decodes a base64url segment into a map.
func decodeJSON(t testing.TB, seg string) map[string]any {
	t.Helper()
	b, err := base64.RawURLEncoding.DecodeString(seg)
	if err != nil {
		t.Fatalf("decode segment: %v", err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("decode segment JSON: %v", err)
	}
	return m
}

// edFixture is an EdDSA ring, its codec, its key, and maps of a valid
// header and claims set that tests alter one thing at a time.
type edFixture struct {
	ring  *jwttoken.KeyRing
	codec *jwttoken.Codec
	kid   string
	priv  ed25519.PrivateKey
	pub   ed25519.PublicKey
}

func newEdFixture(t testing.TB, leeway time.Duration) *edFixture {
	t.Helper()
	r := newRing(t, jwttoken.EdDSA)
	f := &edFixture{ring: r, codec: newCodec(t, r, leeway), kid: currentKid(t, r)}
	f.priv = privateKeys(t, r)[f.kid].(ed25519.PrivateKey)
	f.pub = f.priv.Public().(ed25519.PublicKey)
	return f
}

func (f *edFixture) header(typ string) map[string]any {
	return map[string]any{"alg": "EdDSA", "kid": f.kid, "typ": typ}
}

// claimsMap is what Sign writes for tokenClaims(now).
func claimsMap(now time.Time) map[string]any {
	return map[string]any{
		"iss":       testIssuer,
		"sub":       "user-1",
		"aud":       testAudience,
		"exp":       now.Add(14 * time.Minute).Unix(),
		"iat":       now.Add(-time.Minute).Unix(),
		"jti":       "jti-1",
		"client_id": testAudience,
		"sid":       "sid-1",
		"sst":       "jwt",
		"auth_time": now.Add(-time.Hour).Unix(),
		"sess_exp":  now.Add(7 * time.Hour).Unix(),
	}
}

// signed signs an access token with the fixture's real key after letting
// edit change the header and claims.
func (f *edFixture) signed(t testing.TB, typ string, edit func(h, c map[string]any)) string {
	t.Helper()
	h, c := f.header(typ), claimsMap(t0)
	if edit != nil {
		edit(h, c)
	}
	return craft(t, h, c, jwt.SigningMethodEdDSA, f.priv)
}

// wantErr fails unless err matches both the root sentinel and the reason.
func wantErr(t testing.TB, op string, err, sentinel, reason error) {
	t.Helper()
	if !errors.Is(err, sentinel) {
		t.Fatalf("%s = %v; want %v", op, err, sentinel)
	}
	if reason != nil && !errors.Is(err, reason) {
		t.Fatalf("%s = %v; want reason %v", op, err, reason)
	}
	other := sessiond.ErrExpired
	if sentinel == sessiond.ErrExpired {
		other = sessiond.ErrInvalidToken
	}
	if errors.Is(err, other) {
		t.Fatalf("%s = %v; matches %v too", op, err, other)
	}
}
