package httpsession

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"errors"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/go-jose/go-jose/v4"

	"github.com/sessiond/sessiond/internal/jwsshape"
)

// FuzzParseProof: a Secure-Session-Response that parseProof accepts is a
// JWT, so in the JWS compact serialisation (RFC 7519 §1; the DBSC draft's
// "dbsc+jwt"), and names a challenge; anything else is refused with one of
// the proof errors, and nothing is returned.
func FuzzParseProof(f *testing.F) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		f.Fatal(err)
	}
	pub := jose.JSONWebKey{Key: &key.PublicKey}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: key},
		(&jose.SignerOptions{EmbedJWK: true}).WithType(typDBSC))
	if err != nil {
		f.Fatal(err)
	}
	obj, err := signer.Sign([]byte(`{"jti":"c1.2000000000.mac"}`))
	if err != nil {
		f.Fatal(err)
	}
	compact, err := obj.CompactSerialize()
	if err != nil {
		f.Fatal(err)
	}
	f.Add(compact, false)
	// testdata/fuzz/FuzzParseProof holds the JSON serialisation of a proof.
	f.Add(" "+compact+"\t", false)
	f.Add(strings.Replace(compact, ".", "\n.", 1), false)
	f.Add(compact[:len(compact)-2], false)
	f.Fuzz(func(t *testing.T, header string, bound bool) {
		r := httptest.NewRequest("POST", "/dbsc", nil)
		r.Header.Set(HeaderSessionResponse, header)
		var k *jose.JSONWebKey
		if bound {
			k = &pub
		}
		p, err := parseProof(r, k)
		if err != nil {
			known := []error{errProofMissing, errProofMalformed, errProofType, errProofKey, errProofSignature}
			if p != nil || !errors.Is(err, known[0]) && !errors.Is(err, known[1]) && !errors.Is(err, known[2]) && !errors.Is(err, known[3]) && !errors.Is(err, known[4]) {
				t.Fatalf("parseProof(%q) = %v, %v; want a proof error and nothing", header, p, err)
			}
			return
		}
		if f := jwsshape.Check(strings.TrimSpace(header), maxProofBytes); f != jwsshape.OK {
			t.Fatalf("parseProof accepted %q, not a compact JWS (%v)", header, f)
		}
		if p.jti == "" || (k == nil) != (p.key != nil) {
			t.Fatalf("parseProof(%q) = %+v", header, p)
		}
	})
}
