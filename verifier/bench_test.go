package verifier_test

import (
	"context"
	"crypto"
	"encoding/json"
	"testing"

	"github.com/go-jose/go-jose/v4"
	"github.com/golang-jwt/jwt/v5"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/verifier"
)

// BenchmarkBareSignature is the baseline of BenchmarkVerifyCold: golang-jwt
// alone parsing a sessiond access token and checking its EdDSA signature
// and exp, with the key at hand.
func BenchmarkBareSignature(b *testing.B) {
	s := newServer(b, nil)
	_, tok := s.token("bench")
	doc, _ := s.ring.JWKS()
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(doc, &set); err != nil {
		b.Fatal(err)
	}
	pub := set.Keys[0].Key.(crypto.PublicKey)
	p := jwt.NewParser(jwt.WithValidMethods([]string{"EdDSA"}))
	keyfunc := func(*jwt.Token) (any, error) { return pub, nil }
	b.ReportAllocs()
	for b.Loop() {
		if _, err := p.Parse(tok, keyfunc); err != nil {
			b.Fatal(err)
		}
	}
}

// The verifiers of the benchmarks use the system clock, as in production
// (the tests' fake clock takes a mutex). The server's clock started at the
// real time, so its tokens are valid.

// benchVerifier returns a verifier on the real clock (edit may change its
// options) and a token it accepts; warm verifies the token once first, so
// the cache holds it.
func benchVerifier(b *testing.B, edit func(*verifier.Options), warm bool) (*verifier.Verifier, string) {
	s := newServer(b, nil)
	_, tok := s.token("bench")
	v, _ := s.newVerifier(func(o *verifier.Options) {
		o.Clock = sessiond.SystemClock{}
		if edit != nil {
			edit(o)
		}
	})
	if warm {
		if _, err := v.Verify(context.Background(), tok); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	return v, tok
}

// BenchmarkVerifyCold is a full Verify with no cache: header vetting, key
// lookup, signature, every claim, revoked set, watermarks, staleness.
func BenchmarkVerifyCold(b *testing.B) {
	v, tok := benchVerifier(b, func(o *verifier.Options) { o.CacheSize = -1 }, false)
	for b.Loop() {
		if _, err := v.Verify(context.Background(), tok); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkVerifyCached verifies the same token again: the signature and
// claims are cached, revocation, expiry and staleness are checked anew.
func BenchmarkVerifyCached(b *testing.B) {
	v, tok := benchVerifier(b, nil, true)
	for b.Loop() {
		if _, err := v.Verify(context.Background(), tok); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkVerifyCachedParallel is BenchmarkVerifyCached from every core.
func BenchmarkVerifyCachedParallel(b *testing.B) {
	v, tok := benchVerifier(b, nil, true)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := v.Verify(context.Background(), tok); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
