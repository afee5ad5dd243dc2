package jwttoken

import (
	"fmt"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/sessiond/sessiond"
)

// SignJWS signs payload, a JSON object, as a compact JWS with the key that
// signs tokens issued at now, its kid in the header and typ as the header
// typ: for JWTs that are not sessiond's session tokens, such as the
// Security Event Tokens of the ssf package, which receivers verify against
// the published JWKS. It fails with sessiond.ErrUnsupported on an HS256
// ring, whose secret is never published, and with HoldSigning's error
// while signing is held.
func (r *KeyRing) SignJWS(now time.Time, typ string, payload []byte) (string, error) {
	if err := r.signingHeld(); err != nil {
		return "", fmt.Errorf("jwttoken: sign jws: %w", err)
	}
	k := r.signerAt(now)
	if k.alg == HS256 {
		return "", fmt.Errorf("jwttoken: sign jws: an HS256 key cannot be verified from the JWKS: %w", sessiond.ErrUnsupported)
	}
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.SignatureAlgorithm(k.alg), Key: k.signKey},
		(&jose.SignerOptions{}).WithType(jose.ContentType(typ)).WithHeader("kid", k.kid))
	if err != nil {
		return "", fmt.Errorf("jwttoken: sign jws: %w", err)
	}
	obj, err := s.Sign(payload)
	if err != nil {
		return "", fmt.Errorf("jwttoken: sign jws: %w", err)
	}
	return obj.CompactSerialize()
}
