package testenv

import (
	"encoding/json"
	"testing"

	"github.com/go-jose/go-jose/v4"
)

// SignJWS returns claims (marshalled to JSON) signed by key with alg and
// opts (nil for none) as a compact JWS: what a test needs to play a client
// or a transmitter (DPoP proofs, Security Event Tokens) with go-jose.
func SignJWS(tb testing.TB, key any, alg jose.SignatureAlgorithm, opts *jose.SignerOptions, claims any) string {
	tb.Helper()
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: key}, opts)
	if err != nil {
		tb.Fatal(err)
	}
	body, err := json.Marshal(claims)
	if err != nil {
		tb.Fatal(err)
	}
	obj, err := s.Sign(body)
	if err != nil {
		tb.Fatal(err)
	}
	out, err := obj.CompactSerialize()
	if err != nil {
		tb.Fatal(err)
	}
	return out
}
