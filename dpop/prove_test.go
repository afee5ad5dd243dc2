package dpop_test

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"testing"

	"github.com/sessiond/sessiond/dpop"
)

// TestProver: proofs made by the Prover verify for each key type, carry
// ath and the nonce, and fail the checks they should.
func TestProver(t *testing.T) {
	ctx := context.Background()
	p256, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	_, ed, _ := ed25519.GenerateKey(rand.Reader)
	rk, _ := rsa.GenerateKey(rand.Reader, 2048)
	for name, key := range map[string]crypto.Signer{"ES256": p256, "ES384": p384, "EdDSA": ed, "RS256": rk} {
		t.Run(name, func(t *testing.T) {
			clock := &fakeClock{t: t0}
			p, err := dpop.NewProver(key, clock)
			if err != nil {
				t.Fatal(err)
			}
			v, _ := dpop.New(dpop.Options{Clock: clock})
			proof, err := p.Proof("GET", reqURL+"?q=1", "the-token", "")
			if err != nil {
				t.Fatal(err)
			}
			got, err := v.Verify(ctx, proof, dpop.Request{Method: "GET", URL: reqURL, AccessToken: "the-token", JKT: p.JKT()})
			if err != nil || got.JKT != p.JKT() {
				t.Fatalf("Verify = %+v, %v; want jkt %s", got, err, p.JKT())
			}
			other, _ := p.Proof("GET", reqURL, "the-token", "")
			if _, err := v.Verify(ctx, other, dpop.Request{Method: "POST", URL: reqURL}); !errors.Is(err, dpop.ErrMethod) {
				t.Errorf("wrong method: %v", err)
			}
			if _, err := v.Verify(ctx, other, dpop.Request{Method: "GET", URL: reqURL, AccessToken: "another"}); !errors.Is(err, dpop.ErrAccessTokenHash) {
				t.Errorf("wrong token: %v", err)
			}
		})
	}
	t.Run("nonce", func(t *testing.T) {
		clock := &fakeClock{t: t0}
		nonces := dpop.NewRotatingNonces(clock, 0)
		v, _ := dpop.New(dpop.Options{Clock: clock, Nonces: nonces})
		p, _ := dpop.NewProver(p256, clock)
		n, _ := v.Nonce(ctx)
		proof, _ := p.Proof("POST", reqURL, "", n)
		if _, err := v.Verify(ctx, proof, dpop.Request{Method: "POST", URL: reqURL}); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("bad input", func(t *testing.T) {
		small, _ := rsa.GenerateKey(rand.Reader, 1024)
		p224, _ := ecdsa.GenerateKey(elliptic.P224(), rand.Reader)
		for name, k := range map[string]crypto.Signer{"RSA 1024": small, "P-224": p224} {
			if _, err := dpop.NewProver(k, nil); err == nil {
				t.Errorf("NewProver(%s) accepted", name)
			}
		}
		p, _ := dpop.NewProver(p256, nil)
		for _, u := range []string{"", "/relative", "ftp://x/y", "https://user@host/"} {
			if _, err := p.Proof("GET", u, "", ""); err == nil {
				t.Errorf("Proof for %q made", u)
			}
		}
		if _, err := p.Proof("", reqURL, "", ""); err == nil {
			t.Error("Proof without a method made")
		}
	})
}
