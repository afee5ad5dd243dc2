package testenv

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"testing"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/dpop"
)

// Prover returns a DPoP Prover on a fresh P-256 key, its proofs dated by
// clock (nil for the system clock): a client's key as a test plays one.
func Prover(tb testing.TB, clock sessiond.Clock) *dpop.Prover {
	tb.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	p, err := dpop.NewProver(k, clock)
	if err != nil {
		tb.Fatal(err)
	}
	return p
}
