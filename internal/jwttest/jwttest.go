// Package jwttest makes the JWT codec that tests of the Manager and its
// front ends sign with: a key ring of its own and a codec for one issuer
// and audience.
//
// Only tests import it.
package jwttest

import (
	"testing"
	"time"

	"github.com/sessiond/sessiond/jwttoken"
)

// The issuer and audience of Codec's tokens.
const (
	Issuer   = "https://sessiond.test"
	Audience = "app"
)

// Codec returns a codec for Issuer and Audience on a new key ring made at
// now for tokens that live up to maxLifetime, and that ring (for its JWKS).
// It fails tb if either is refused.
func Codec(tb testing.TB, now time.Time, maxLifetime time.Duration) (*jwttoken.Codec, *jwttoken.KeyRing) {
	tb.Helper()
	ring, err := jwttoken.NewRing(now, jwttoken.RingOptions{MaxTokenLifetime: maxLifetime})
	if err != nil {
		tb.Fatal(err)
	}
	codec, err := jwttoken.New(ring, jwttoken.Options{Issuer: Issuer, Audience: Audience})
	if err != nil {
		tb.Fatal(err)
	}
	return codec, ring
}
