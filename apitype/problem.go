package apitype

import (
	"time"

	"github.com/sessiond/sessiond"
)

// Problem codes: the `code` member of every problem document (RFC 9457)
// the /v1 routes answer with. They are part of the API contract.
const (
	CodeInvalidRequest    = "invalid_request"
	CodeUnauthorized      = "unauthorized"
	CodeInsufficientScope = "insufficient_scope"
	CodeTooManyRequests   = "too_many_requests"
	CodeNotFound          = "not_found"
	CodePayloadTooLarge   = "payload_too_large"
	CodeTokenInvalid      = "token_invalid"
	CodeTokenExpired      = "token_expired"
	CodeSessionRevoked    = "session_revoked"
	CodeIdleTimeout       = "idle_timeout"
	CodeAbsoluteTimeout   = "absolute_timeout"
	CodeRefreshReused     = "refresh_token_reused"
	CodeLimitReached      = "session_limit_reached"
	// CodeIdempotencyKeyReused (422): the Idempotency-Key of a login came
	// with another subject or body than the login it was first sent with.
	CodeIdempotencyKeyReused = "idempotency_key_reused"
	// CodeIdempotencyKeySuperseded (409): a login arrived before another
	// with its Idempotency-Key that was stored first; that one's session
	// stands, and this login stored nothing.
	CodeIdempotencyKeySuperseded = "idempotency_key_superseded"
	CodeStoreUnavailable         = "store_unavailable"
	CodeInternal                 = "internal"
	// DPoP (RFC 9449; docs/bound-sessions.md): a proof was required or given
	// and is not valid, or it lacks the server nonce sent in DPoP-Nonce.
	CodeInvalidDPoPProof = "invalid_dpop_proof"
	CodeUseDPoPNonce     = "use_dpop_nonce"
)

// ProblemTypeBase + code is a problem's `type` URI.
const ProblemTypeBase = "https://sessiond.dev/problems/"

// Problem is an RFC 9457 problem document.
type Problem struct {
	Type   string `json:"type"`
	Title  string `json:"title"`
	Status int    `json:"status"`
	Detail string `json:"detail"`
	Code   string `json:"code"`
	// Revoked is, on the failure of a revocation that ends sessions a
	// batch at a time (POST /v1/revocations, DELETE
	// /v1/subjects/{subject}/sessions), how many sessions it had revoked
	// before the failure: they stay revoked, and the same request again
	// revokes the rest. Absent when none were.
	Revoked int `json:"revoked,omitzero"`
	// IssuedBefore is, on the failure of the kill switch (POST
	// /v1/revocations) once it had begun, the bound it applied: the
	// request's issued_before, or else the time it ran. The same request
	// with this issued_before finishes it; without one, a re-run is a new
	// incident at its own time and also ends every session created since
	// the first. Absent on other problems.
	IssuedBefore time.Time `json:"issued_before,omitzero"`
}

// codes holds each code's fixed title and the library sentinel it stands
// for (nil where the library has none: API-key refusals).
var codes = map[string]struct {
	title    string
	sentinel error
}{
	CodeInvalidRequest:           {"Invalid request", sessiond.ErrInvalidArgument},
	CodeUnauthorized:             {"Unauthorized", nil},
	CodeInsufficientScope:        {"Insufficient scope", nil},
	CodeTooManyRequests:          {"Too many requests", sessiond.ErrRateLimited},
	CodeNotFound:                 {"Not found", sessiond.ErrNotFound},
	CodePayloadTooLarge:          {"Payload too large", sessiond.ErrInvalidArgument},
	CodeTokenInvalid:             {"Invalid token", sessiond.ErrInvalidToken},
	CodeTokenExpired:             {"Token expired", sessiond.ErrExpired},
	CodeSessionRevoked:           {"Session revoked", sessiond.ErrRevoked},
	CodeIdleTimeout:              {"Session idle timeout", sessiond.ErrIdleTimeout},
	CodeAbsoluteTimeout:          {"Session absolute timeout", sessiond.ErrAbsoluteTimeout},
	CodeRefreshReused:            {"Refresh token reused", sessiond.ErrRefreshReused},
	CodeLimitReached:             {"Session limit reached", sessiond.ErrLimitReached},
	CodeIdempotencyKeyReused:     {"Idempotency key reused", sessiond.ErrIdempotencyKeyReused},
	CodeIdempotencyKeySuperseded: {"Login superseded by a later one with its idempotency key", sessiond.ErrLoginSuperseded},
	CodeStoreUnavailable:         {"Store unavailable", sessiond.ErrStoreUnavailable},
	CodeInternal:                 {"Internal error", nil},
	CodeInvalidDPoPProof:         {"Invalid DPoP proof", nil},
	CodeUseDPoPNonce:             {"DPoP nonce required", nil},
}

// Title returns the fixed, human-readable summary of code ("" if unknown).
func Title(code string) string { return codes[code].title }

// Sentinel returns the library error code stands for, or nil when code is
// unknown or has none.
func Sentinel(code string) error { return codes[code].sentinel }

// Codes returns every problem code.
func Codes() []string {
	out := make([]string, 0, len(codes))
	for c := range codes {
		out = append(out, c)
	}
	return out
}
