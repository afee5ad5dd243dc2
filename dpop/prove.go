package dpop

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"fmt"

	"github.com/go-jose/go-jose/v4"

	"github.com/sessiond/sessiond"
)

// Prover makes DPoP proofs with one private key: the client side of this
// package, for Go clients of an API that binds its tokens to the key. It
// is safe for concurrent use.
type Prover struct {
	signer jose.Signer
	jkt    string
	clock  sessiond.Clock
}

// NewProver returns a Prover for key: an ECDSA key on P-256, P-384 or
// P-521 (ES256, ES384, ES512), an Ed25519 key (EdDSA) or an RSA key of at
// least 2048 bits (RS256). clock gives iat; nil means the system clock.
func NewProver(key crypto.Signer, clock sessiond.Clock) (*Prover, error) {
	var alg jose.SignatureAlgorithm
	switch k := key.(type) {
	case *ecdsa.PrivateKey:
		switch k.Curve {
		case elliptic.P256():
			alg = jose.ES256
		case elliptic.P384():
			alg = jose.ES384
		case elliptic.P521():
			alg = jose.ES512
		}
	case ed25519.PrivateKey:
		alg = jose.EdDSA
	case *rsa.PrivateKey:
		if k.N.BitLen() >= 2048 {
			alg = jose.RS256
		}
	}
	if alg == "" {
		return nil, fmt.Errorf("dpop: key %T is not an ECDSA P-256/384/521, Ed25519 or RSA (2048 bits or more) private key", key)
	}
	pub := jose.JSONWebKey{Key: key.Public()}
	tp, err := pub.Thumbprint(crypto.SHA256)
	if err != nil {
		return nil, fmt.Errorf("dpop: key thumbprint: %w", err)
	}
	opts := (&jose.SignerOptions{EmbedJWK: true}).WithType("dpop+jwt")
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: key}, opts)
	if err != nil {
		return nil, fmt.Errorf("dpop: signer: %w", err)
	}
	if clock == nil {
		clock = sessiond.SystemClock{}
	}
	return &Prover{signer: s, jkt: base64.RawURLEncoding.EncodeToString(tp), clock: clock}, nil
}

// JKT returns the key's RFC 7638 SHA-256 thumbprint, base64url: the
// cnf.jkt of tokens bound to it.
func (p *Prover) JKT() string { return p.jkt }

// Proof returns a proof for a request with this method and URL (query and
// fragment are dropped, RFC 9449 §4.2). accessToken, when not empty, is
// hashed into ath; nonce, when not empty, is the server's DPoP-Nonce.
// Every proof has a new random jti.
func (p *Prover) Proof(method, url string, accessToken sessiond.Secret, nonce string) (string, error) {
	htu, ok := normalURL(url)
	if !ok || method == "" {
		return "", fmt.Errorf("dpop: proof: method and an absolute http(s) URL are required")
	}
	c := map[string]any{"jti": rand.Text(), "htm": method, "htu": htu, "iat": p.clock.Now().Unix()}
	if accessToken != "" {
		c["ath"] = ATH(accessToken)
	}
	if nonce != "" {
		c["nonce"] = nonce
	}
	payload, err := json.Marshal(c)
	if err != nil {
		return "", fmt.Errorf("dpop: proof: %w", err)
	}
	obj, err := p.signer.Sign(payload)
	if err != nil {
		return "", fmt.Errorf("dpop: sign proof: %w", err)
	}
	return obj.CompactSerialize()
}
