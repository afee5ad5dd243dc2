package jwttoken_test

import (
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/jwttoken"
)

// TestKeyRing_SignJWS: a JWS signed by the ring verifies with the
// published JWKS alone and carries the requested typ and the signer's kid;
// an HS256 ring refuses.
func TestKeyRing_SignJWS(t *testing.T) {
	now := time.Now()
	for _, alg := range []jwttoken.Algorithm{jwttoken.EdDSA, jwttoken.ES256} {
		t.Run(string(alg), func(t *testing.T) {
			ring, err := jwttoken.NewRing(now, jwttoken.RingOptions{Algorithm: alg, MaxTokenLifetime: time.Hour})
			if err != nil {
				t.Fatal(err)
			}
			tok, err := ring.SignJWS(now, "secevent+jwt", []byte(`{"jti":"a"}`))
			if err != nil {
				t.Fatalf("SignJWS = %v", err)
			}
			doc, _ := ring.JWKS()
			var set jose.JSONWebKeySet
			if err := json.Unmarshal(doc, &set); err != nil {
				t.Fatal(err)
			}
			jws, err := jose.ParseSignedCompact(tok, []jose.SignatureAlgorithm{jose.SignatureAlgorithm(alg)})
			if err != nil {
				t.Fatal(err)
			}
			h := jws.Signatures[0].Protected
			keys := set.Key(h.KeyID)
			if len(keys) != 1 || h.ExtraHeaders[jose.HeaderType] != "secevent+jwt" {
				t.Fatalf("header kid %q typ %v; want a published kid and secevent+jwt", h.KeyID, h.ExtraHeaders[jose.HeaderType])
			}
			if p, err := jws.Verify(keys[0].Key); err != nil || string(p) != `{"jti":"a"}` {
				t.Errorf("Verify = %s, %v", p, err)
			}
		})
	}
	ring, err := jwttoken.NewRing(now, jwttoken.RingOptions{Algorithm: jwttoken.HS256, MaxTokenLifetime: time.Hour, HMACSecret: []byte("0123456789abcdef0123456789abcdef-x")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ring.SignJWS(now, "secevent+jwt", []byte(`{}`)); !errors.Is(err, sessiond.ErrUnsupported) {
		t.Errorf("HS256 SignJWS = %v; want ErrUnsupported", err)
	}
}
