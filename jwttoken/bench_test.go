package jwttoken_test

import (
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/jwttoken"
)

// Each Verify benchmark has a Bare twin: golang-jwt's jwt.Parse of the same
// token with the same key into jwt.MapClaims and nothing else, the floor
// Codec.Verify is measured against. Compare with benchstat:
//
//	go test -run x -bench Verify -count 10 ./jwttoken | tee new.txt

// benchToken signs a typical access token live at the real time, since
// jwt.Parse checks exp against time.Now.
func benchToken(b *testing.B, alg jwttoken.Algorithm) (*jwttoken.Codec, sessiond.Secret, any, time.Time) {
	b.Helper()
	now := time.Now()
	opts := jwttoken.RingOptions{Algorithm: alg, MaxTokenLifetime: time.Hour}
	if alg == jwttoken.HS256 {
		opts.HMACSecret = hmacSecret
	}
	ring, err := jwttoken.NewRing(now, opts)
	if err != nil {
		b.Fatal(err)
	}
	c := newCodec(b, ring, 0)
	tc := tokenClaims(now)
	tc.SessionID = sessiond.NewSessionID()
	tc.ID = ""
	tok := sign(b, c, sessiond.KindAccess, tc)
	var key any
	if alg == jwttoken.HS256 {
		key = hmacSecret
	} else {
		key = publicKeys(b, ring)[currentKid(b, ring)].Key
	}
	return c, tok, key, now
}

func benchVerify(b *testing.B, alg jwttoken.Algorithm) {
	c, tok, _, now := benchToken(b, alg)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.Verify(sessiond.KindAccess, tok, now); err != nil {
			b.Fatal(err)
		}
	}
}

func benchBareVerify(b *testing.B, alg jwttoken.Algorithm) {
	_, tok, key, _ := benchToken(b, alg)
	keyfunc := func(*jwt.Token) (any, error) { return key, nil }
	b.ReportAllocs()
	for b.Loop() {
		if _, err := jwt.Parse(string(tok), keyfunc); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkVerifyEdDSA(b *testing.B)     { benchVerify(b, jwttoken.EdDSA) }
func BenchmarkBareVerifyEdDSA(b *testing.B) { benchBareVerify(b, jwttoken.EdDSA) }
func BenchmarkVerifyES256(b *testing.B)     { benchVerify(b, jwttoken.ES256) }
func BenchmarkBareVerifyES256(b *testing.B) { benchBareVerify(b, jwttoken.ES256) }
func BenchmarkVerifyHS256(b *testing.B)     { benchVerify(b, jwttoken.HS256) }
func BenchmarkBareVerifyHS256(b *testing.B) { benchBareVerify(b, jwttoken.HS256) }

func BenchmarkSignEdDSA(b *testing.B) {
	c, _, _, now := benchToken(b, jwttoken.EdDSA)
	tc := tokenClaims(now)
	tc.ID = ""
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.Sign(sessiond.KindAccess, tc); err != nil {
			b.Fatal(err)
		}
	}
}
