package client

import (
	"errors"
	"fmt"
	"time"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/apitype"
)

// ErrUnauthorized matches an *Error for a refused API key: 401
// `unauthorized` on /v1 routes, `invalid_client` on /oauth2 routes.
var ErrUnauthorized = errors.New("client: API key refused")

// ErrInsufficientScope matches an *Error for an API key that is valid but
// lacks the scope the route requires (403 `insufficient_scope`).
var ErrInsufficientScope = errors.New("client: API key lacks the scope")

// ErrRateLimited matches an *Error for a request refused by a rate limit
// (429 `too_many_requests`); Error.RetryAfter says when to try again.
var ErrRateLimited = errors.New("client: rate limited")

// Error is a response the server answered with a status other than the
// call's success status. It matches the library's sentinels by its Code
// with errors.Is, e.g. errors.Is(err, sessiond.ErrExpired) for
// token_expired. Transport failures are not *Error; they are wrapped as
// they come.
type Error struct {
	Status    int    // HTTP status
	Code      string // problem code (/v1) or RFC 6749 error code (/oauth2); empty if the body had none
	Title     string
	Detail    string // for people; never a token
	RequestID string // the X-Request-Id the server logged the request under
	// RetryAfter is the Retry-After of a 429 or 503, in whole seconds
	// (0 when absent or unreadable): delay-seconds, or an HTTP date as
	// seconds from now rounded up, at most 366 days (a larger delay,
	// one too large for an int included, reads as 366 days).
	RetryAfter int
	// DPoPNonce is the DPoP-Nonce header: with ErrUseDPoPNonce, the nonce
	// the next proof must carry.
	DPoPNonce string
	// Revoked is the problem's revoked member: how many sessions a
	// revocation that failed part way (the kill switch, a subject's
	// sessions) had revoked before the failure; they stay revoked. 0 when
	// the answer has none.
	Revoked int
	// IssuedBefore is the problem's issued_before member: the bound a kill
	// switch that failed once it had begun applied, which the same request
	// again should give as its IssuedBefore (without one, a re-run is a new
	// incident at its own time). Zero when the answer has none.
	IssuedBefore time.Time
}

func (e *Error) Error() string {
	msg := e.Detail
	if msg == "" {
		msg = e.Title
	}
	if e.Code == "" {
		return fmt.Sprintf("client: server answered %d: %s", e.Status, msg)
	}
	return fmt.Sprintf("client: server answered %d %s: %s", e.Status, e.Code, msg)
}

// codeErrors maps the codes with no library sentinel to the client's
// errors; apitype.Sentinel maps the rest.
var codeErrors = map[string]error{
	apitype.CodeUnauthorized:      ErrUnauthorized,
	apitype.CodeInsufficientScope: ErrInsufficientScope,
	apitype.CodeTooManyRequests:   ErrRateLimited,
	apitype.CodeInvalidDPoPProof:  ErrInvalidDPoPProof,
	apitype.CodeUseDPoPNonce:      ErrUseDPoPNonce,
	// RFC 6749 / 7009 codes of the /oauth2 routes.
	"invalid_client":          ErrUnauthorized,
	"unsupported_token_type":  sessiond.ErrUnsupported,
	"temporarily_unavailable": sessiond.ErrStoreUnavailable,
}

// Is reports whether target is the error e's code stands for: the
// client's error for the code, or the library's sentinel (a 429 matches
// both ErrRateLimited and sessiond.ErrRateLimited).
func (e *Error) Is(target error) bool {
	if want, ok := codeErrors[e.Code]; ok && want == target {
		return true
	}
	want := apitype.Sentinel(e.Code)
	return want != nil && want == target
}
