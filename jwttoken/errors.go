package jwttoken

import (
	"errors"

	"github.com/golang-jwt/jwt/v5"

	"github.com/sessiond/sessiond"
)

// tokenError is a verification failure: a fixed reason for the log and the
// root sentinel for callers. The reason never quotes the token or any part of
// it (header values such as kid or alg are attacker-chosen), which is also why
// golang-jwt's own messages are dropped rather than wrapped.
type tokenError struct {
	reason   string
	sentinel error
}

func (e *tokenError) Error() string { return "jwttoken: " + e.reason + ": " + e.sentinel.Error() }
func (e *tokenError) Unwrap() error { return e.sentinel }

func invalid(reason string) *tokenError {
	return &tokenError{reason: reason, sentinel: sessiond.ErrInvalidToken}
}

// Verification failures. Immutable; shared so the failure path of Verify
// allocates nothing of its own.
var (
	errExpired = &tokenError{reason: "token past exp", sentinel: sessiond.ErrExpired}

	errKind          = invalid("unknown token kind")
	errEmpty         = invalid("empty token")
	errTooLarge      = invalid("token larger than 8 KiB")
	errCharset       = invalid("token is not base64url and dots")
	errSegments      = invalid("token is not three non-empty segments")
	errMalformed     = invalid("malformed token")
	errAlgorithm     = invalid("algorithm not allowed")
	errSignature     = invalid("bad signature or algorithm")
	errKeyHeader     = invalid("key-bearing header (jku, jwk, x5u, x5c) not allowed")
	errCritHeader    = invalid("crit header not allowed")
	errUnknownHeader = invalid("unexpected header parameter")
	errType          = invalid("wrong typ for this token kind")
	errNoKid         = invalid("missing kid")
	errUnknownKid    = invalid("unknown kid")
	errKeyRetired    = &tokenError{reason: "kid of a key dropped on purpose", sentinel: sessiond.ErrKeyRetired}
	errKeyAlg        = invalid("alg does not match the key's algorithm")
	errIssuer        = invalid("wrong issuer")
	errAudience      = invalid("wrong audience")
	errClientID      = invalid("wrong client_id")
	errNotYet        = invalid("token not valid yet (nbf)")
	errIssuedFuture  = invalid("token issued in the future (iat)")
	errMissingClaim  = invalid("missing required claim")
	errExpBeforeIat  = invalid("exp before iat")
	errStrategy      = invalid("wrong session strategy (sst) for this token kind")
	errExt           = invalid("ext claim is not a JSON object")
	errInvalid       = invalid("token rejected")
)

// verifyError turns a golang-jwt parse error into one of ours.
func verifyError(err error) error {
	var te *tokenError
	switch {
	case errors.As(err, &te):
		// Our own checks (keyfunc, claims Validate). When a claim check of
		// ours failed the token is invalid even if it has also expired.
		return te
	case onlyExpired(err):
		return errExpired
	case errors.Is(err, jwt.ErrTokenMalformed):
		return errMalformed
	case errors.Is(err, jwt.ErrTokenUnverifiable):
		return errAlgorithm // alg unknown to golang-jwt or missing
	case errors.Is(err, jwt.ErrTokenSignatureInvalid):
		return errSignature // includes an alg outside WithValidMethods
	case errors.Is(err, jwt.ErrTokenRequiredClaimMissing):
		return errMissingClaim
	case errors.Is(err, jwt.ErrTokenInvalidIssuer):
		return errIssuer
	case errors.Is(err, jwt.ErrTokenInvalidAudience):
		return errAudience
	case errors.Is(err, jwt.ErrTokenNotValidYet):
		return errNotYet
	case errors.Is(err, jwt.ErrTokenUsedBeforeIssued):
		return errIssuedFuture
	}
	return errInvalid
}

// onlyExpired reports whether expiry is the one thing wrong with the token:
// golang-jwt joins every failed claim check, and a token that is expired and
// also, say, of the wrong audience must be ErrInvalidToken, not ErrExpired.
func onlyExpired(err error) bool {
	if !errors.Is(err, jwt.ErrTokenExpired) {
		return false
	}
	only := true
	walkLeaves(err, func(e error) {
		if e != jwt.ErrTokenExpired && e != jwt.ErrTokenInvalidClaims {
			only = false
		}
	})
	return only
}

// walkLeaves calls fn for every error in err's tree that wraps nothing.
func walkLeaves(err error, fn func(error)) {
	switch u := err.(type) {
	case interface{ Unwrap() []error }:
		for _, e := range u.Unwrap() {
			walkLeaves(e, fn)
		}
	case interface{ Unwrap() error }:
		if next := u.Unwrap(); next != nil {
			walkLeaves(next, fn)
			return
		}
		fn(err)
	default:
		fn(err)
	}
}
