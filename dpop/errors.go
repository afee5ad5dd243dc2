package dpop

import (
	"errors"
	"fmt"

	"github.com/sessiond/sessiond"
)

// ErrInvalidProof is wrapped by every rejection of a proof except a missing or
// stale server nonce: the request must be answered with error invalid_dpop_proof.
var ErrInvalidProof = errors.New("dpop: invalid proof")

// ErrUseNonce means the proof lacks the server nonce, or carries an old one.
// The request must be answered with error use_dpop_nonce and a DPoP-Nonce
// header holding Verifier.Nonce. It matches sessiond.ErrChallenge: a
// refresh refused for it is no failed refresh.
var ErrUseNonce = fmt.Errorf("dpop: use_dpop_nonce: %w", sessiond.ErrChallenge)

// Reasons, each wrapped together with ErrInvalidProof so that callers who only
// care about "refuse" test ErrInvalidProof and tests can tell reasons apart.
var (
	ErrMalformed = errors.New("malformed proof")
	ErrSignature = errors.New("signature or key not acceptable")
	ErrMethod    = errors.New("htm does not match the request method")
	ErrURL       = errors.New("htu does not match the request URL")
	// ErrIssuedAt is checked after the signature, the key (Request.JKT)
	// and the proof's other claims; only the nonce and the jti's replay
	// come after it. With Request.JKT set, a proof refused for it also
	// matches sessiond.ErrClockSkew: the key holder's clock is off (no
	// failed refresh).
	ErrIssuedAt        = errors.New("iat outside the accepted window")
	ErrAccessTokenHash = errors.New("ath does not match the access token")
	ErrKeyMismatch     = errors.New("proof key does not match the bound key")
	ErrReplayed        = errors.New("jti already used")
)
