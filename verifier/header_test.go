package verifier_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"errors"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/golang-jwt/jwt/v5"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/jwttoken"
)

// signCompact returns header and payload (JSON, used as is) signed with
// method and key as a compact JWS: a header exactly as the test writes it,
// which neither jwttoken nor go-jose would produce.
func signCompact(t *testing.T, method jwt.SigningMethod, key any, header map[string]any, payload []byte) string {
	t.Helper()
	h, err := json.Marshal(header)
	if err != nil {
		t.Fatal(err)
	}
	enc := base64.RawURLEncoding
	input := enc.EncodeToString(h) + "." + enc.EncodeToString(payload)
	sig, err := method.Sign(input, key)
	if err != nil {
		t.Fatal(err)
	}
	return input + "." + enc.EncodeToString(sig)
}

// ringSigner returns the private key and kid of the ring's key that signed
// tok (a token of the ring), from the ring's private document.
func ringSigner(t *testing.T, ring *jwttoken.KeyRing, tok string) (ed25519.PrivateKey, string) {
	t.Helper()
	var hdr struct{ Alg, Kid string }
	h, err := base64.RawURLEncoding.DecodeString(strings.Split(tok, ".")[0])
	if err != nil || json.Unmarshal(h, &hdr) != nil || hdr.Alg != "EdDSA" {
		t.Fatalf("token header %s (%v): want an EdDSA token of the ring", h, err)
	}
	doc, err := ring.MarshalPrivate()
	if err != nil {
		t.Fatal(err)
	}
	var rd struct {
		Keys []struct {
			JWK jose.JSONWebKey `json:"jwk"`
		} `json:"keys"`
	}
	if err := json.Unmarshal(doc, &rd); err != nil {
		t.Fatal(err)
	}
	for _, k := range rd.Keys {
		if k.JWK.KeyID == hdr.Kid {
			priv, ok := k.JWK.Key.(ed25519.PrivateKey)
			if !ok {
				t.Fatalf("key %s is a %T", hdr.Kid, k.JWK.Key)
			}
			return priv, hdr.Kid
		}
	}
	t.Fatalf("kid %s is not in the ring", hdr.Kid)
	return nil, ""
}

// selfSigned returns a self-signed certificate of key, DER.
func selfSigned(t *testing.T, pub ed25519.PublicKey, priv ed25519.PrivateKey) []byte {
	t.Helper()
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "attacker.test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, pub, priv)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

// TestVerifier_HeaderChecks: the verifier accepts access tokens only. A
// refresh token or any other JWT signed by the same key, a header naming a
// key or certificate other than the JWKS's (jku, jwk, x5c, x5u), crit, and
// an alg that is not the kid's are refused with ErrInvalidToken, by the
// header check that names them, before any key is used; and nothing a
// header points to is fetched. The untouched access tokens, and their
// claims re-signed under the same header, verify: the refusals are the
// headers' doing.
func TestVerifier_HeaderChecks(t *testing.T) {
	t.Parallel()
	s := newServer(t, nil)
	ctx := context.Background()
	_, access := s.token("kim")

	// A jwt-strategy Manager on the same ring, iss and aud: its refresh
	// tokens are JWTs (typ rt+jwt) signed by the key the verifier trusts.
	codec, err := jwttoken.New(s.ring, jwttoken.Options{Issuer: issuer, Audience: audience})
	if err != nil {
		t.Fatal(err)
	}
	jm, err := sessiond.New(ctx, sessiond.Options{Strategy: sessiond.StrategyJWT, Signed: codec, Lifetimes: life, Clock: s.clock, GCInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { jm.Close() })
	jwtIss, err := jm.Create(ctx, "kim", sessiond.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	jwtAccess, jwtRefresh := string(jwtIss.AccessToken), string(jwtIss.RefreshToken)

	priv, kid := ringSigner(t, s.ring, access)
	claims, err := base64.RawURLEncoding.DecodeString(strings.Split(access, ".")[1])
	if err != nil {
		t.Fatal(err)
	}
	// resign signs the access token's claims with the ring's key under
	// the header {alg EdDSA, kid, typ at+jwt} edited by edit.
	resign := func(edit func(h map[string]any)) string {
		h := map[string]any{"alg": "EdDSA", "kid": kid, "typ": "at+jwt"}
		if edit != nil {
			edit(h)
		}
		return signCompact(t, jwt.SigningMethodEdDSA, priv, h, claims)
	}

	// The attacker's keys, and a server that counts what is asked of it
	// (it serves the attacker's key as a JWKS).
	attackerPub, attackerPriv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	attackerJWK := jose.JSONWebKey{Key: attackerPub, KeyID: "attacker", Algorithm: "EdDSA", Use: "sig"}
	attackerP256, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	var fetched atomic.Int64
	attacker := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fetched.Add(1)
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{attackerJWK}})
	}))
	t.Cleanup(attacker.Close)
	byAttacker := func(h map[string]any) string {
		return signCompact(t, jwt.SigningMethodEdDSA, attackerPriv, h, claims)
	}

	// An SSF Security Event Token made by the ring (as ssf's transmitter
	// does), with the claims of an access token besides its events.
	var set map[string]any
	if err := json.Unmarshal(claims, &set); err != nil {
		t.Fatal(err)
	}
	set["events"] = map[string]any{"https://schemas.openid.net/secevent/caep/event-type/session-revoked": map[string]any{
		"subject": map[string]any{"format": "opaque", "id": "kim"}, "event_timestamp": s.clock.Now().Unix()}}
	setPayload, err := json.Marshal(set)
	if err != nil {
		t.Fatal(err)
	}
	secevent, err := s.ring.SignJWS(s.clock.Now(), "secevent+jwt", setPayload)
	if err != nil {
		t.Fatal(err)
	}

	v, _ := s.newVerifier(nil)
	const notAccess = "not an access token"
	refused := func(name string) string { return "header " + `"` + name + `"` + " is not accepted" }
	for _, c := range []struct {
		name  string
		token string
		// why is part of the refusal's message, naming the check that
		// must refuse the token; "" accepts any ErrInvalidToken, and
		// valid means the token must verify.
		why   string
		valid bool
	}{
		// Positive controls: the harness and the signing helper.
		{name: "control: access token (hybrid)", token: access, valid: true},
		{name: "control: access token (jwt strategy)", token: jwtAccess, valid: true},
		{name: "control: claims re-signed, same header", token: resign(nil), valid: true},
		{name: "control: typ application/at+jwt", token: resign(func(h map[string]any) { h["typ"] = "application/at+jwt" }), valid: true},

		// (a) Refresh tokens of the same key, iss, aud and subject.
		{name: "refresh token of a jwt session (rt+jwt)", token: jwtRefresh, why: notAccess},
		{name: "access claims as rt+jwt", token: resign(func(h map[string]any) { h["typ"] = "rt+jwt" }), why: notAccess},
		// (b) Other or no typ.
		{name: "typ JWT", token: resign(func(h map[string]any) { h["typ"] = "JWT" }), why: notAccess},
		{name: "typ missing", token: resign(func(h map[string]any) { delete(h, "typ") }), why: notAccess},
		// (c) Headers naming keys or extensions.
		{name: "jku (ring's key)", token: resign(func(h map[string]any) { h["jku"] = attacker.URL + "/jwks.json" }), why: refused("jku")},
		{name: "jku (attacker's key and kid)", token: byAttacker(map[string]any{"alg": "EdDSA", "kid": "attacker", "typ": "at+jwt",
			"jku": attacker.URL + "/jwks.json"}), why: refused("jku")},
		{name: "jwk (attacker's key embedded, signed by it)", token: byAttacker(map[string]any{"alg": "EdDSA", "kid": kid, "typ": "at+jwt",
			"jwk": attackerJWK.Public()}), why: refused("jwk")},
		{name: "jwk (ring's key)", token: resign(func(h map[string]any) { h["jwk"] = attackerJWK.Public() }), why: refused("jwk")},
		{name: "x5c", token: resign(func(h map[string]any) {
			h["x5c"] = []string{base64.StdEncoding.EncodeToString(selfSigned(t, attackerPub, attackerPriv))}
		}), why: refused("x5c")},
		{name: "x5u", token: resign(func(h map[string]any) { h["x5u"] = attacker.URL + "/cert.pem" }), why: refused("x5u")},
		{name: "crit", token: resign(func(h map[string]any) { h["crit"] = []string{"exp"} }), why: refused("crit")},
		// (d) Another kind of JWT the ring signs.
		{name: "SSF SET (secevent+jwt)", token: secevent, why: notAccess},
		// (e) An alg other than the kid's.
		{name: "alg ES256 with the EdDSA kid", token: signCompact(t, jwt.SigningMethodES256, attackerP256,
			map[string]any{"alg": "ES256", "kid": kid, "typ": "at+jwt"}, claims), why: "alg does not match the key"},
		{name: "alg HS256 keyed with the public key", token: signCompact(t, jwt.SigningMethodHS256, []byte(priv.Public().(ed25519.PublicKey)),
			map[string]any{"alg": "HS256", "kid": kid, "typ": "at+jwt"}, claims)},
	} {
		t.Run(c.name, func(t *testing.T) {
			cl, err := v.Verify(ctx, c.token)
			switch {
			case c.valid:
				if err != nil || cl.Subject != "kim" {
					t.Fatalf("Verify = %+v, %v; want kim's claims", cl, err)
				}
			case !errors.Is(err, sessiond.ErrInvalidToken):
				t.Fatalf("Verify = %+v, %v; want ErrInvalidToken", cl, err)
			case !strings.Contains(err.Error(), c.why):
				t.Fatalf("Verify = %v; want it refused by the check %q", err, c.why)
			}
		})
	}
	if n := fetched.Load(); n != 0 {
		t.Errorf("the verifier fetched %d URLs that tokens' headers named; want none", n)
	}
}
