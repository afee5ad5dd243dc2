package dpop_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"strconv"
	"testing"

	"github.com/go-jose/go-jose/v4"

	"github.com/sessiond/sessiond/dpop"
)

func newTestVerifier(t *testing.T) *dpop.Verifier {
	v, err := dpop.New(dpop.Options{Clock: &fakeClock{t: t0}})
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// TestVerifier_IATIsANumber: iat is a NumericDate, a JSON number (RFC
// 7519 §2); a quoted number is not one.
func TestVerifier_IATIsANumber(t *testing.T) {
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	p := sign(t, k, jose.ES256, nil, with(baseClaims(), "iat", strconv.FormatInt(t0.Unix(), 10)))
	if _, err := newTestVerifier(t).Verify(t.Context(), p, dpop.Request{Method: "GET", URL: reqURL}); !errors.Is(err, dpop.ErrInvalidProof) {
		t.Errorf("iat as a JSON string: err = %v; want ErrInvalidProof", err)
	}
}

// TestVerifier_WeakRSAKey: the Prover refuses RSA keys under 2048 bits,
// and the Verifier proofs by one.
func TestVerifier_WeakRSAKey(t *testing.T) {
	k, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	p := sign(t, k, jose.RS256, nil, baseClaims())
	if _, err := newTestVerifier(t).Verify(t.Context(), p, dpop.Request{Method: "GET", URL: reqURL}); !errors.Is(err, dpop.ErrInvalidProof) {
		t.Errorf("RSA-1024 proof: err = %v; want ErrInvalidProof", err)
	}
}

// TestVerifier_HeaderKeyConfusion: a symmetric key in the header's jwk,
// alg none, and an alg that does not match the key's curve are refused.
func TestVerifier_HeaderKeyConfusion(t *testing.T) {
	v := newTestVerifier(t)
	req := dpop.Request{Method: "GET", URL: reqURL}
	k384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	for name, p := range map[string]string{
		"oct jwk":       rawProof(`{"typ":"dpop+jwt","alg":"ES256","jwk":{"kty":"oct","k":"AAAA"}}`, `{"jti":"a","htm":"GET","htu":"`+reqURL+`","iat":`+strconv.FormatInt(t0.Unix(), 10)+`}`),
		"none":          rawProof(`{"typ":"dpop+jwt","alg":"none"}`, `{}`),
		"ES256 on P384": rawProof(`{"typ":"dpop+jwt","alg":"ES256","jwk":`+string(mustJWK(t, &k384.PublicKey))+`}`, `{"jti":"a","htm":"GET","htu":"`+reqURL+`","iat":`+strconv.FormatInt(t0.Unix(), 10)+`}`),
	} {
		if _, err := v.Verify(t.Context(), p, req); !errors.Is(err, dpop.ErrInvalidProof) {
			t.Errorf("%s: err = %v; want ErrInvalidProof", name, err)
		}
	}
}

func mustJWK(t *testing.T, k any) []byte {
	b, err := (&jose.JSONWebKey{Key: k}).MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	return b
}
