package jwttoken_test

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/golang-jwt/jwt/v5"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/jwttoken"
)

// TestVerify_Control proves the crafted tokens below are valid but for the
// one thing each case changes.
func TestVerify_Control(t *testing.T) {
	f := newEdFixture(t, 0)
	for _, typ := range []string{"at+jwt", "application/at+jwt"} {
		if _, err := f.codec.Verify(sessiond.KindAccess, sessiond.Secret(f.signed(t, typ, nil)), t0); err != nil {
			t.Fatalf("Verify(crafted, typ %s) = %v; want nil", typ, err)
		}
	}
	refresh := f.signed(t, "rt+jwt", nil)
	if _, err := f.codec.Verify(sessiond.KindRefresh, sessiond.Secret(refresh), t0); err != nil {
		t.Fatalf("Verify(crafted refresh) = %v; want nil", err)
	}
}

func TestVerify_Rejects(t *testing.T) {
	f := newEdFixture(t, 0)
	access := string(sign(t, f.codec, sessiond.KindAccess, tokenClaims(t0)))
	refresh := string(sign(t, f.codec, sessiond.KindRefresh, tokenClaims(t0)))
	h, p, sig := segments(t, access)

	// An attacker's own keys.
	_, evilEd, _ := ed25519.GenerateKey(rand.Reader)
	evilEC, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	evilJWK := func() map[string]any {
		b, _ := json.Marshal(jose.JSONWebKey{Key: evilEd.Public(), KeyID: "evil", Algorithm: "EdDSA", Use: "sig"})
		var m map[string]any
		_ = json.Unmarshal(b, &m)
		return m
	}()

	// The server's public key in the forms an attacker can get hold of,
	// for HMAC key-confusion.
	der, err := x509.MarshalPKIXPublicKey(f.pub)
	if err != nil {
		t.Fatal(err)
	}
	pemKey := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
	jwkKey, _ := json.Marshal(jose.JSONWebKey{Key: f.pub, KeyID: f.kid, Algorithm: "EdDSA", Use: "sig"})
	jwks, _ := f.ring.JWKS()
	hsWith := func(key []byte) string {
		hdr := f.header("at+jwt")
		hdr["alg"] = "HS256"
		return craft(t, hdr, claimsMap(t0), jwt.SigningMethodHS256, key)
	}
	noneWith := func(alg, signature string) string {
		return b64(`{"alg":"`+alg+`","kid":"`+f.kid+`","typ":"at+jwt"}`) + "." + p + "." + signature
	}
	// flipLowBit gives the signature's last character a non-zero padding
	// bit: the same signature bytes under lax base64 decoding.
	flipLowBit := func(s string) string {
		const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
		i := strings.IndexByte(alphabet, s[len(s)-1])
		return s[:len(s)-1] + string(alphabet[i^1])
	}
	tamperedPayload := func() string {
		c := decodeJSON(t, p)
		c["sub"] = "admin"
		b, _ := json.Marshal(c)
		return h + "." + base64.RawURLEncoding.EncodeToString(b) + "." + sig
	}()
	tamperedSig := func() string {
		raw, _ := base64.RawURLEncoding.DecodeString(sig)
		raw[10] ^= 0x01
		return h + "." + p + "." + base64.RawURLEncoding.EncodeToString(raw)
	}()
	otherSig := func() string {
		tc := tokenClaims(t0)
		tc.Subject = "user-2"
		_, _, s := segments(t, string(sign(t, f.codec, sessiond.KindAccess, tc)))
		return h + "." + p + "." + s
	}()
	edit := func(fn func(h, c map[string]any)) string { return f.signed(t, "at+jwt", fn) }
	invalid, expired := sessiond.ErrInvalidToken, sessiond.ErrExpired

	tests := []struct {
		name   string
		kind   sessiond.TokenKind
		tok    string
		now    time.Time // zero: t0
		want   error
		reason error
	}{
		// Shape.
		{name: "empty", tok: "", want: invalid, reason: jwttoken.ReasonEmpty},
		{name: "garbage", tok: "not a token at all", want: invalid, reason: jwttoken.ReasonCharset},
		{name: "garbage segments", tok: "abc.def.ghi", want: invalid, reason: jwttoken.ReasonMalformed},
		{name: "NUL and quote", tok: "a\x00'.b.c", want: invalid, reason: jwttoken.ReasonCharset},
		{name: "two segments", tok: h + "." + p, want: invalid, reason: jwttoken.ReasonSegments},
		{name: "four segments", tok: access + "." + sig, want: invalid, reason: jwttoken.ReasonSegments},
		{name: "jwe five segments", tok: b64(`{"alg":"dir","enc":"A256GCM"}`) + "..aXY.Y2lwaGVy.dGFn", want: invalid, reason: jwttoken.ReasonSegments},
		{name: "jwe five non-empty segments", tok: b64(`{"alg":"RSA-OAEP","enc":"A256GCM"}`) + ".a2V5.aXY.Y2lwaGVy.dGFn", want: invalid, reason: jwttoken.ReasonSegments},
		{name: "json serialisation", tok: `{"payload":"` + p + `","protected":"` + h + `","signature":"` + sig + `"}`, want: invalid, reason: jwttoken.ReasonCharset},
		{name: "10 KiB", tok: edit(func(_, c map[string]any) { c["pad"] = strings.Repeat("x", 10<<10) }), want: invalid, reason: jwttoken.ReasonTooLarge},
		{name: "line break", tok: access[:20] + "\n" + access[20:], want: invalid, reason: jwttoken.ReasonCharset},
		{name: "padding", tok: access + "==", want: invalid, reason: jwttoken.ReasonCharset},
		{name: "standard base64 alphabet", tok: strings.NewReplacer("-", "+", "_", "/").Replace(access) + "+/", want: invalid, reason: jwttoken.ReasonCharset},
		{name: "space around", tok: " " + access, want: invalid, reason: jwttoken.ReasonCharset},
		{name: "header not json", tok: b64("not json") + "." + p + "." + sig, want: invalid, reason: jwttoken.ReasonMalformed},
		{name: "payload not json", tok: h + "." + b64("not json") + "." + sig, want: invalid, reason: jwttoken.ReasonMalformed},
		{name: "payload json array", tok: h + "." + b64(`["sub"]`) + "." + sig, want: invalid, reason: jwttoken.ReasonMalformed},
		{name: "non-canonical base64 signature", tok: h + "." + p + "." + flipLowBit(sig), want: invalid, reason: jwttoken.ReasonMalformed},

		// Algorithms and signatures.
		{name: "alg none unsigned", tok: noneWith("none", ""), want: invalid, reason: jwttoken.ReasonSegments},
		{name: "alg none with signature", tok: noneWith("none", sig), want: invalid, reason: jwttoken.ReasonSignature},
		{name: "alg None", tok: noneWith("None", sig), want: invalid, reason: jwttoken.ReasonAlgorithm},
		{name: "alg NONE", tok: noneWith("NONE", sig), want: invalid, reason: jwttoken.ReasonAlgorithm},
		{name: "alg missing", tok: b64(`{"kid":"`+f.kid+`","typ":"at+jwt"}`) + "." + p + "." + sig, want: invalid, reason: jwttoken.ReasonAlgorithm},
		{name: "alg RS256", tok: noneWith("RS256", sig), want: invalid, reason: jwttoken.ReasonSignature},
		{name: "alg HS512", tok: noneWith("HS512", sig), want: invalid, reason: jwttoken.ReasonSignature},
		{name: "stripped signature", tok: h + "." + p + ".", want: invalid, reason: jwttoken.ReasonSegments},
		{name: "HS256 keyed with public key bytes", tok: hsWith(f.pub), want: invalid, reason: jwttoken.ReasonSignature},
		{name: "HS256 keyed with public key PEM", tok: hsWith(pemKey), want: invalid, reason: jwttoken.ReasonSignature},
		{name: "HS256 keyed with public key DER", tok: hsWith(der), want: invalid, reason: jwttoken.ReasonSignature},
		{name: "HS256 keyed with public JWK", tok: hsWith(jwkKey), want: invalid, reason: jwttoken.ReasonSignature},
		{name: "HS256 keyed with JWKS", tok: hsWith(jwks), want: invalid, reason: jwttoken.ReasonSignature},
		{name: "ES256 with our kid", tok: func() string {
			hdr := f.header("at+jwt")
			hdr["alg"] = "ES256"
			return craft(t, hdr, claimsMap(t0), jwt.SigningMethodES256, evilEC)
		}(), want: invalid, reason: jwttoken.ReasonSignature},
		{name: "signed by another EdDSA key", tok: craft(t, f.header("at+jwt"), claimsMap(t0), jwt.SigningMethodEdDSA, evilEd), want: invalid, reason: jwttoken.ReasonSignature},
		{name: "tampered payload", tok: tamperedPayload, want: invalid, reason: jwttoken.ReasonSignature},
		{name: "tampered signature", tok: tamperedSig, want: invalid, reason: jwttoken.ReasonSignature},
		{name: "signature of another token", tok: otherSig, want: invalid, reason: jwttoken.ReasonSignature},

		// Header parameters. Signed with the real key where it matters, so
		// the header alone is what gets them rejected.
		{name: "embedded jwk self-signed", tok: func() string {
			hdr := map[string]any{"alg": "EdDSA", "typ": "at+jwt", "kid": "evil", "jwk": evilJWK}
			return craft(t, hdr, claimsMap(t0), jwt.SigningMethodEdDSA, evilEd)
		}(), want: invalid, reason: jwttoken.ReasonKeyHeader},
		{name: "embedded jwk with our kid", tok: func() string {
			hdr := f.header("at+jwt")
			hdr["jwk"] = evilJWK
			return craft(t, hdr, claimsMap(t0), jwt.SigningMethodEdDSA, evilEd)
		}(), want: invalid, reason: jwttoken.ReasonKeyHeader},
		{name: "jwk signed by us", tok: edit(func(h, _ map[string]any) { h["jwk"] = evilJWK }), want: invalid, reason: jwttoken.ReasonKeyHeader},
		{name: "jku", tok: edit(func(h, _ map[string]any) { h["jku"] = "https://attacker.example/jwks.json" }), want: invalid, reason: jwttoken.ReasonKeyHeader},
		{name: "x5u", tok: edit(func(h, _ map[string]any) { h["x5u"] = "https://attacker.example/cert.pem" }), want: invalid, reason: jwttoken.ReasonKeyHeader},
		{name: "x5c", tok: edit(func(h, _ map[string]any) { h["x5c"] = []string{base64.StdEncoding.EncodeToString(der)} }), want: invalid, reason: jwttoken.ReasonKeyHeader},
		{name: "crit", tok: edit(func(h, _ map[string]any) { h["crit"] = []string{"exp"}; h["exp"] = 1 }), want: invalid, reason: jwttoken.ReasonCritHeader},
		{name: "unknown header", tok: edit(func(h, _ map[string]any) { h["cty"] = "JWT" }), want: invalid, reason: jwttoken.ReasonUnknownHeader},
		{name: "b64 header", tok: edit(func(h, _ map[string]any) { h["b64"] = false }), want: invalid, reason: jwttoken.ReasonUnknownHeader},

		// typ: access and refresh validation are mutually exclusive.
		{name: "typ JWT", tok: f.signed(t, "JWT", nil), want: invalid, reason: jwttoken.ReasonType},
		{name: "typ missing", tok: edit(func(h, _ map[string]any) { delete(h, "typ") }), want: invalid, reason: jwttoken.ReasonType},
		{name: "typ upper case", tok: f.signed(t, "AT+JWT", nil), want: invalid, reason: jwttoken.ReasonType},
		{name: "typ not a string", tok: edit(func(h, _ map[string]any) { h["typ"] = 1 }), want: invalid, reason: jwttoken.ReasonType},
		{name: "refresh as access", tok: refresh, want: invalid, reason: jwttoken.ReasonType},
		{name: "access as refresh", kind: sessiond.KindRefresh, tok: access, want: invalid, reason: jwttoken.ReasonType},
		{name: "long access typ as refresh", kind: sessiond.KindRefresh, tok: f.signed(t, "application/at+jwt", nil), want: invalid, reason: jwttoken.ReasonType},
		{name: "unknown kind", kind: 3, tok: access, want: invalid, reason: jwttoken.ReasonKind},

		// kid.
		{name: "kid missing", tok: edit(func(h, _ map[string]any) { delete(h, "kid") }), want: invalid, reason: jwttoken.ReasonNoKid},
		{name: "kid empty", tok: edit(func(h, _ map[string]any) { h["kid"] = "" }), want: invalid, reason: jwttoken.ReasonNoKid},
		{name: "kid not a string", tok: edit(func(h, _ map[string]any) { h["kid"] = 7 }), want: invalid, reason: jwttoken.ReasonNoKid},
		{name: "kid unknown", tok: edit(func(h, _ map[string]any) { h["kid"] = "AAAAAAAAAAAAAAAAAAAAAA" }), want: invalid, reason: jwttoken.ReasonUnknownKid},
		{name: "kid path traversal", tok: edit(func(h, _ map[string]any) { h["kid"] = "../../dev/null" }), want: invalid, reason: jwttoken.ReasonUnknownKid},
		{name: "kid sql injection", tok: edit(func(h, _ map[string]any) { h["kid"] = "' OR 1=1--" }), want: invalid, reason: jwttoken.ReasonUnknownKid},
		{name: "kid with NUL", tok: edit(func(h, _ map[string]any) { h["kid"] = f.kid + "\x00" }), want: invalid, reason: jwttoken.ReasonUnknownKid},

		// Registered claims.
		{name: "foreign iss", tok: edit(func(_, c map[string]any) { c["iss"] = "https://evil.example" }), want: invalid, reason: jwttoken.ReasonIssuer},
		{name: "iss missing", tok: edit(func(_, c map[string]any) { delete(c, "iss") }), want: invalid, reason: jwttoken.ReasonMissingClaim},
		{name: "wrong aud", tok: edit(func(_, c map[string]any) { c["aud"] = "other.test" }), want: invalid, reason: jwttoken.ReasonAudience},
		{name: "aud list without ours", tok: edit(func(_, c map[string]any) { c["aud"] = []string{"a.test", "b.test"} }), want: invalid, reason: jwttoken.ReasonAudience},
		{name: "aud missing", tok: edit(func(_, c map[string]any) { delete(c, "aud") }), want: invalid, reason: jwttoken.ReasonMissingClaim},
		{name: "aud not a string", tok: edit(func(_, c map[string]any) { c["aud"] = 5 }), want: invalid, reason: jwttoken.ReasonMalformed},
		{name: "exp missing", tok: edit(func(_, c map[string]any) { delete(c, "exp") }), want: invalid, reason: jwttoken.ReasonMissingClaim},
		{name: "exp not a number", tok: edit(func(_, c map[string]any) { c["exp"] = "tomorrow" }), want: invalid, reason: jwttoken.ReasonMalformed},
		{name: "exp -2 min", tok: edit(func(_, c map[string]any) {
			c["exp"] = at(-2 * time.Minute).Unix()
			c["iat"] = at(-10 * time.Minute).Unix()
		}), want: expired, reason: jwttoken.ReasonExpired},
		{name: "exp now", tok: edit(func(_, c map[string]any) { c["exp"] = t0.Unix() }), want: expired, reason: jwttoken.ReasonExpired},
		{name: "verified after exp", tok: access, now: at(15 * time.Minute), want: expired, reason: jwttoken.ReasonExpired},
		{name: "expired and wrong aud", tok: edit(func(_, c map[string]any) {
			c["exp"] = at(-2 * time.Minute).Unix()
			c["iat"] = at(-10 * time.Minute).Unix()
			c["aud"] = "other.test"
		}), want: invalid, reason: jwttoken.ReasonAudience},
		{name: "expired and sid missing", tok: edit(func(_, c map[string]any) {
			c["exp"] = at(-2 * time.Minute).Unix()
			c["iat"] = at(-10 * time.Minute).Unix()
			delete(c, "sid")
		}), want: invalid, reason: jwttoken.ReasonMissingClaim},
		{name: "expired refresh as access", tok: refresh, now: at(time.Hour), want: invalid, reason: jwttoken.ReasonType},
		{name: "nbf +2 min", tok: edit(func(_, c map[string]any) { c["nbf"] = at(2 * time.Minute).Unix() }), want: invalid, reason: jwttoken.ReasonNotYet},
		{name: "iat +2 min", tok: edit(func(_, c map[string]any) { c["iat"] = at(2 * time.Minute).Unix() }), want: invalid, reason: jwttoken.ReasonIssuedFuture},
		// Past the year 292 billion a time.Time holds, time.Unix wraps to
		// the far past: such an nbf or iat read as passed.
		{name: "nbf the largest int64", tok: edit(func(_, c map[string]any) { c["nbf"] = int64(math.MaxInt64) }), want: invalid, reason: jwttoken.ReasonNotYet},
		{name: "nbf past the years a time holds", tok: edit(func(_, c map[string]any) { c["nbf"] = int64(math.MaxInt64 - 62135596800 + 1) }), want: invalid, reason: jwttoken.ReasonNotYet},
		{name: "nbf the year 9999", tok: edit(func(_, c map[string]any) { c["nbf"] = int64(253402300799) }), want: invalid, reason: jwttoken.ReasonNotYet},
		{name: "iat the largest int64", tok: edit(func(_, c map[string]any) { c["iat"] = int64(math.MaxInt64); c["exp"] = int64(math.MaxInt64) }), want: invalid, reason: jwttoken.ReasonIssuedFuture},
		{name: "nbf above int64", tok: edit(func(_, c map[string]any) { c["nbf"] = json.Number("9223372036854775808") }), want: invalid, reason: jwttoken.ReasonMalformed},
		{name: "nbf in exponent form", tok: edit(func(_, c map[string]any) { c["nbf"] = json.Number("1e300") }), want: invalid, reason: jwttoken.ReasonMalformed},
		{name: "verified before iat", tok: access, now: at(-2 * time.Minute), want: invalid, reason: jwttoken.ReasonIssuedFuture},
		{name: "iat missing", tok: edit(func(_, c map[string]any) { delete(c, "iat") }), want: invalid, reason: jwttoken.ReasonMissingClaim},
		{name: "exp before iat", tok: edit(func(_, c map[string]any) { c["iat"] = at(-time.Minute).Unix(); c["exp"] = at(-2 * time.Minute).Unix() }), want: invalid, reason: jwttoken.ReasonExpBeforeIat},
		{name: "sub missing", tok: edit(func(_, c map[string]any) { delete(c, "sub") }), want: invalid, reason: jwttoken.ReasonMissingClaim},
		{name: "sub empty", tok: edit(func(_, c map[string]any) { c["sub"] = "" }), want: invalid, reason: jwttoken.ReasonMissingClaim},
		{name: "jti missing", tok: edit(func(_, c map[string]any) { delete(c, "jti") }), want: invalid, reason: jwttoken.ReasonMissingClaim},

		// sessiond claims.
		{name: "sid missing", tok: edit(func(_, c map[string]any) { delete(c, "sid") }), want: invalid, reason: jwttoken.ReasonMissingClaim},
		{name: "client_id missing", tok: edit(func(_, c map[string]any) { delete(c, "client_id") }), want: invalid, reason: jwttoken.ReasonMissingClaim},
		{name: "client_id foreign", tok: edit(func(_, c map[string]any) { c["client_id"] = "other.test" }), want: invalid, reason: jwttoken.ReasonClientID},
		{name: "sst missing", tok: edit(func(_, c map[string]any) { delete(c, "sst") }), want: invalid, reason: jwttoken.ReasonMissingClaim},
		{name: "sst database", tok: edit(func(_, c map[string]any) { c["sst"] = "database" }), want: invalid, reason: jwttoken.ReasonStrategy},
		{name: "hybrid refresh token", kind: sessiond.KindRefresh, tok: f.signed(t, "rt+jwt", func(_, c map[string]any) { c["sst"] = "hybrid" }), want: invalid, reason: jwttoken.ReasonStrategy},
		{name: "ext array", tok: edit(func(_, c map[string]any) { c["ext"] = []int{1} }), want: invalid, reason: jwttoken.ReasonExt},
		{name: "ext null", tok: edit(func(_, c map[string]any) { c["ext"] = nil }), want: invalid, reason: jwttoken.ReasonExt},
		{name: "auth_time fractional", tok: edit(func(_, c map[string]any) { c["auth_time"] = 1.5 }), want: invalid, reason: jwttoken.ReasonMalformed},
		{name: "persistent not a bool", tok: edit(func(_, c map[string]any) { c["persistent"] = "yes" }), want: invalid, reason: jwttoken.ReasonMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			kind, now := tt.kind, tt.now
			if kind == 0 {
				kind = sessiond.KindAccess
			}
			if now.IsZero() {
				now = t0
			}
			got, err := f.codec.Verify(kind, sessiond.Secret(tt.tok), now)
			wantErr(t, "Verify", err, tt.want, tt.reason)
			// Only an expired token (authentic otherwise) comes back with
			// its claims, so it can still name the session to revoke.
			if expired := errors.Is(err, sessiond.ErrExpired); expired == reflect.DeepEqual(got, sessiond.TokenClaims{}) {
				t.Errorf("Verify returned claims %+v with error %v", got, err)
			}
			if tt.tok != "" && strings.Contains(err.Error(), tt.tok) {
				t.Errorf("error %q quotes the token", err)
			}
		})
	}
}

// TestVerify_Leeway checks the leeway is honoured on exp, nbf and iat, and
// only up to its value.
func TestVerify_Leeway(t *testing.T) {
	strict := newEdFixture(t, 0)
	lenient := newEdFixture(t, 30*time.Second)
	tests := []struct {
		name          string
		edit          func(c map[string]any)
		strict, loose error // nil: verifies
	}{
		{"exp -20s", func(c map[string]any) { c["exp"] = at(-20 * time.Second).Unix() }, sessiond.ErrExpired, nil},
		{"exp -29s", func(c map[string]any) { c["exp"] = at(-29 * time.Second).Unix() }, sessiond.ErrExpired, nil},
		{"exp -30s", func(c map[string]any) { c["exp"] = at(-30 * time.Second).Unix() }, sessiond.ErrExpired, sessiond.ErrExpired},
		{"exp -40s", func(c map[string]any) { c["exp"] = at(-40 * time.Second).Unix() }, sessiond.ErrExpired, sessiond.ErrExpired},
		{"nbf +20s", func(c map[string]any) { c["nbf"] = at(20 * time.Second).Unix() }, sessiond.ErrInvalidToken, nil},
		{"nbf +30s", func(c map[string]any) { c["nbf"] = at(30 * time.Second).Unix() }, sessiond.ErrInvalidToken, nil},
		{"nbf +40s", func(c map[string]any) { c["nbf"] = at(40 * time.Second).Unix() }, sessiond.ErrInvalidToken, sessiond.ErrInvalidToken},
		{"iat +20s", func(c map[string]any) { c["iat"] = at(20 * time.Second).Unix() }, sessiond.ErrInvalidToken, nil},
		{"iat +40s", func(c map[string]any) { c["iat"] = at(40 * time.Second).Unix() }, sessiond.ErrInvalidToken, sessiond.ErrInvalidToken},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, v := range []struct {
				name string
				f    *edFixture
				want error
			}{{"leeway 0", strict, tt.strict}, {"leeway 30s", lenient, tt.loose}} {
				tok := v.f.signed(t, "at+jwt", func(_, c map[string]any) { tt.edit(c) })
				_, err := v.f.codec.Verify(sessiond.KindAccess, sessiond.Secret(tok), t0)
				if v.want == nil {
					if err != nil {
						t.Errorf("%s: Verify = %v; want nil", v.name, err)
					}
					continue
				}
				wantErr(t, v.name+": Verify", err, v.want, nil)
			}
		})
	}
	if got := lenient.codec.Leeway(); got != 30*time.Second {
		t.Errorf("Leeway() = %s; want 30s", got)
	}
}

// TestVerify_Accepts covers the variations a strict verifier must still
// accept.
func TestVerify_Accepts(t *testing.T) {
	f := newEdFixture(t, 0)
	tests := []struct {
		name string
		tok  string
	}{
		{"typ application/at+jwt", f.signed(t, "application/at+jwt", nil)},
		{"aud list with ours", f.signed(t, "at+jwt", func(_, c map[string]any) { c["aud"] = []string{"other.test", testAudience} })},
		{"nbf in the past", f.signed(t, "at+jwt", func(_, c map[string]any) { c["nbf"] = at(-time.Minute).Unix() })},
		{"hybrid access token", f.signed(t, "at+jwt", func(_, c map[string]any) { c["sst"] = "hybrid" })},
		{"no auth_time or sess_exp", f.signed(t, "at+jwt", func(_, c map[string]any) { delete(c, "auth_time"); delete(c, "sess_exp") })},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := f.codec.Verify(sessiond.KindAccess, sessiond.Secret(tt.tok), t0); err != nil {
				t.Errorf("Verify = %v; want nil", err)
			}
		})
	}
}

// TestVerify_DatesPastYear9999: a date past the year 9999 comes back as
// 9999-12-31T23:59:59Z, not wrapped to the far past, where the Manager's
// cache and a refresh's session expiry (sess_exp) would read it as passed.
func TestVerify_DatesPastYear9999(t *testing.T) {
	f := newEdFixture(t, 0)
	tok := f.signed(t, "at+jwt", func(_, c map[string]any) {
		c["exp"], c["sess_exp"] = int64(math.MaxInt64), int64(math.MaxInt64)
	})
	got, err := f.codec.Verify(sessiond.KindAccess, sessiond.Secret(tok), t0)
	if err != nil {
		t.Fatalf("Verify = %v; want nil", err)
	}
	want := time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC)
	if !got.ExpiresAt.Equal(want) || !got.SessionExpiresAt.Equal(want) {
		t.Errorf("ExpiresAt %v, SessionExpiresAt %v; want both %v", got.ExpiresAt, got.SessionExpiresAt, want)
	}
}

// TestVerify_Mutations changes every byte of a valid token and checks the
// result never verifies.
func TestVerify_Mutations(t *testing.T) {
	eachAlg(t, func(t *testing.T, alg jwttoken.Algorithm, _ *jwttoken.KeyRing, c *jwttoken.Codec) {
		tok := string(sign(t, c, sessiond.KindAccess, tokenClaims(t0)))
		for i := 0; i < len(tok); i++ {
			for _, b := range []byte{tok[i] ^ 0x01, tok[i] ^ 0x20, 'A', '.'} {
				if b == tok[i] {
					continue
				}
				m := tok[:i] + string(b) + tok[i+1:]
				if _, err := c.Verify(sessiond.KindAccess, sessiond.Secret(m), t0); err == nil {
					t.Fatalf("token with byte %d changed from %q to %q verifies", i, tok[i], b)
				}
			}
		}
	})
}

// TestVerify_AlgorithmPerKey: every kid is tied to one algorithm, even in
// a ring migrating from EdDSA to ES256 that holds keys of both.
func TestVerify_AlgorithmPerKey(t *testing.T) {
	ed := newRing(t, jwttoken.EdDSA)
	edKid := currentKid(t, ed)
	doc, err := ed.MarshalPrivate()
	if err != nil {
		t.Fatal(err)
	}
	ring, err := jwttoken.LoadRing(doc, jwttoken.RingOptions{Algorithm: jwttoken.ES256, MaxTokenLifetime: maxLifetime})
	if err != nil {
		t.Fatalf("LoadRing = %v", err)
	}
	c := newCodec(t, ring, 0)
	old := sign(t, c, sessiond.KindAccess, tokenClaims(t0))
	if err := ring.Rotate(at(-time.Minute)); err != nil {
		t.Fatal(err)
	}
	esKid := currentKid(t, ring)
	keys := privateKeys(t, ring)
	current := sign(t, c, sessiond.KindAccess, tokenClaims(t0))
	for name, tok := range map[string]sessiond.Secret{"EdDSA (retired)": old, "ES256 (current)": current} {
		if _, err := c.Verify(sessiond.KindAccess, tok, t0); err != nil {
			t.Errorf("Verify(%s) = %v; want nil", name, err)
		}
	}
	tests := []struct {
		name   string
		alg    jwt.SigningMethod
		kid    string
		signer any
	}{
		{"ES256 under the EdDSA kid", jwt.SigningMethodES256, edKid, keys[esKid]},
		{"EdDSA under the ES256 kid", jwt.SigningMethodEdDSA, esKid, keys[edKid]},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tok := craft(t, map[string]any{"alg": tt.alg.Alg(), "kid": tt.kid, "typ": "at+jwt"}, claimsMap(t0), tt.alg, tt.signer)
			_, err := c.Verify(sessiond.KindAccess, sessiond.Secret(tok), t0)
			wantErr(t, "Verify", err, sessiond.ErrInvalidToken, jwttoken.ReasonKeyAlg)
		})
	}
}

// TestVerify_OtherRing: a token is only good for the ring (and issuer)
// that signed it.
func TestVerify_OtherRing(t *testing.T) {
	es := newCodec(t, newRing(t, jwttoken.ES256), 0)
	ed := newCodec(t, newRing(t, jwttoken.EdDSA), 0)
	hs := newCodec(t, newRing(t, jwttoken.HS256), 0)
	tests := []struct {
		name     string
		signer   *jwttoken.Codec
		verifier *jwttoken.Codec
	}{
		{"ES256 token, EdDSA-only ring", es, ed},
		{"EdDSA token, other EdDSA ring", newCodec(t, newRing(t, jwttoken.EdDSA), 0), ed},
		{"EdDSA token, HS256 ring", ed, hs},
		{"HS256 token, EdDSA ring", hs, ed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tok := sign(t, tt.signer, sessiond.KindAccess, tokenClaims(t0))
			_, err := tt.verifier.Verify(sessiond.KindAccess, tok, t0)
			wantErr(t, "Verify", err, sessiond.ErrInvalidToken, nil)
		})
	}
}

// TestVerify_KeyConfusionES256: HS256 MAC'ed with any public form of an
// ES256 ring's key is rejected, like the EdDSA cases in TestVerify_Rejects.
func TestVerify_KeyConfusionES256(t *testing.T) {
	ring := newRing(t, jwttoken.ES256)
	c := newCodec(t, ring, 0)
	kid := currentKid(t, ring)
	pub := publicKeys(t, ring)[kid]
	ecPub := pub.Key.(*ecdsa.PublicKey)
	point, err := ecPub.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKIXPublicKey(ecPub)
	if err != nil {
		t.Fatal(err)
	}
	jwk, _ := json.Marshal(pub)
	forms := map[string][]byte{
		"uncompressed point": point,
		"PEM":                pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}),
		"DER":                der,
		"JWK":                jwk,
	}
	for name, key := range forms {
		t.Run(name, func(t *testing.T) {
			tok := craft(t, map[string]any{"alg": "HS256", "kid": kid, "typ": "at+jwt"}, claimsMap(t0), jwt.SigningMethodHS256, key)
			_, err := c.Verify(sessiond.KindAccess, sessiond.Secret(tok), t0)
			wantErr(t, "Verify", err, sessiond.ErrInvalidToken, jwttoken.ReasonSignature)
		})
	}
}
