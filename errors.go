package sessiond

import (
	"errors"
	"fmt"
)

// Sentinel errors. Every layer wraps them with context; callers test them
// with errors.Is. None of them ever carries a token value.
var (
	// ErrInvalidToken: the token is malformed, has a bad checksum or
	// signature, is of the wrong kind or strategy, or is unknown.
	ErrInvalidToken = errors.New("invalid token")
	// ErrExpired: the token itself is past its expiry.
	ErrExpired = errors.New("token expired")
	// ErrRevoked: the session was revoked (logout, admin, reuse, incident…).
	ErrRevoked = errors.New("session revoked")
	// ErrIdleTimeout: the session saw no activity for longer than the idle timeout.
	ErrIdleTimeout = errors.New("session idle timeout")
	// ErrAbsoluteTimeout: the session reached its absolute lifetime.
	ErrAbsoluteTimeout = errors.New("session absolute timeout")
	// ErrRefreshReused: a retired refresh token was presented again; the
	// whole session has been revoked.
	ErrRefreshReused = errors.New("refresh token reused")
	// ErrNotFound: no such session (or token) in the store.
	ErrNotFound = errors.New("not found")
	// ErrConflict: the record already exists, or a compare-and-swap lost.
	ErrConflict = errors.New("conflict")
	// ErrStoreUnavailable: the store could not be reached; nothing was decided.
	ErrStoreUnavailable = errors.New("store unavailable")
	// ErrSchemaOutdated: the store's schema lacks migrations of this build,
	// and the store was opened not to apply them (sessiond migrate does).
	ErrSchemaOutdated = errors.New("store schema outdated")
	// ErrInvalidArgument: a caller-supplied value is out of bounds. The
	// concrete error is an *ArgumentError naming the field.
	ErrInvalidArgument = errors.New("invalid argument")
	// ErrUnsupported: the configured strategy cannot do this (for example
	// revoking a single stateless JWT session before it expires).
	ErrUnsupported = errors.New("not supported by this strategy")
	// ErrLimitReached: the subject already has the maximum number of live
	// sessions and the policy is to refuse new ones.
	ErrLimitReached = errors.New("session limit reached")
	// ErrRateLimited: a limit refused the operation for now (too many
	// failed refreshes of one subject, Options.RefreshFailures). The
	// concrete error is a *RateLimitError saying when to retry.
	ErrRateLimited = errors.New("rate limited")
	// ErrChallenge: a check (RefreshChecked's, InspectChecked's) asks the
	// client to retry with something the server just sent it, as a DPoP
	// nonce (RFC 9449 §8). A client doing everything right meets it at
	// every nonce rotation, so it is no failed refresh
	// (Options.RefreshFailures).
	ErrChallenge = errors.New("retry with the server's challenge")
	// ErrClockSkew: a check (RefreshChecked's, InspectChecked's) refused a
	// proof for its time alone, a proof made with the very key the session
	// is bound to and right in everything else (a DPoP proof's iat out of
	// the window: dpop.ErrIssuedAt with Request.JKT): the client's clock
	// is off. Only a proof the key made can be refused for it (its
	// holder's, or an old one replayed, which can never pass), and it
	// guesses nothing, so it is no failed refresh of the subject
	// (Options.RefreshFailures); it is counted against its session alone,
	// under the same limit, since an old proof replayed with a stolen
	// refresh token is refused the same way.
	ErrClockSkew = errors.New("the client's clock is off")
)

// ErrKeyRetired: the token names a signing key this deployment dropped on
// purpose (the kill switch's key rotation) while tokens it signed may still
// be held. It matches ErrInvalidToken, and is refused as one, so every
// caller keeps working; it exists so that clients still holding such tokens
// after an incident are not counted, and alerted on, as forgers.
var ErrKeyRetired = fmt.Errorf("%w: signed by a key that was dropped", ErrInvalidToken)

// ArgumentError reports which caller-supplied field is invalid and why.
// It matches ErrInvalidArgument with errors.Is.
type ArgumentError struct {
	Field string // JSON-style path, e.g. "subject" or "client.ip"
	Msg   string
}

func (e *ArgumentError) Error() string { return fmt.Sprintf("%s: %s", e.Field, e.Msg) }

// Is reports whether target is ErrInvalidArgument.
func (e *ArgumentError) Is(target error) bool { return target == ErrInvalidArgument }

func argError(field, format string, args ...any) error {
	return &ArgumentError{Field: field, Msg: fmt.Sprintf(format, args...)}
}

// notFoundIsInvalid: a token whose record is gone is, to its bearer, an
// invalid token.
func notFoundIsInvalid(err error) error {
	if errors.Is(err, ErrNotFound) {
		return ErrInvalidToken
	}
	return err
}
