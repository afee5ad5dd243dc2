package ssf

import "errors"

// Error codes of RFC 8935 §2.3, the "err" member of a refusal.
const (
	CodeInvalidRequest       = "invalid_request"
	CodeInvalidKey           = "invalid_key"
	CodeInvalidIssuer        = "invalid_issuer"
	CodeInvalidAudience      = "invalid_audience"
	CodeAuthenticationFailed = "authentication_failed"
	CodeAccessDenied         = "access_denied"
)

// Sentinel errors; a *RefusedError wraps one of them.
var (
	ErrMalformed    = errors.New("ssf: malformed SET")
	ErrKey          = errors.New("ssf: signing key unknown or unacceptable")
	ErrSignature    = errors.New("ssf: signature does not verify")
	ErrIssuer       = errors.New("ssf: unexpected issuer")
	ErrAudience     = errors.New("ssf: audience not accepted")
	ErrStale        = errors.New("ssf: iat outside the accepted window")
	ErrExpired      = errors.New("ssf: exp passed or nbf not reached")
	ErrReplayed     = errors.New("ssf: jti already received")
	ErrEventType    = errors.New("ssf: unsupported event type")
	ErrSubject      = errors.New("ssf: subject identifier not mappable")
	ErrForeign      = errors.New("ssf: session belongs to another subject")
	ErrUnauthorized = errors.New("ssf: transmitter not authenticated")
)

// RefusedError is why a SET was refused: the RFC 8935 code sent back and
// the reason, which never holds the token's text.
type RefusedError struct {
	Code   string
	Reason string
	Err    error
}

func (e *RefusedError) Error() string { return e.Code + ": " + e.Reason }
func (e *RefusedError) Unwrap() error { return e.Err }

func refuse(code string, err error, reason string) *RefusedError {
	return &RefusedError{Code: code, Reason: reason, Err: err}
}
