package sessiond

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"time"
)

// FailureLimit bounds failures of one kind per key: at most Max in a fixed
// window of length Window. The zero value limits nothing.
type FailureLimit struct {
	Max    int
	Window time.Duration
}

func (l FailureLimit) validate(field string) error {
	switch {
	case l.Max < 0:
		return argError(field+".max", "must not be negative, got %d", l.Max)
	case l.Max > 0 && l.Window <= 0:
		return argError(field+".window", "must be positive when max is set, got %v", l.Window)
	}
	return nil
}

// RateLimitError is returned in place of an operation's own error when a
// limit refused it (Options.RefreshFailures). It matches ErrRateLimited
// and says when to try again; it does not match the error it replaces,
// whose reason a client over the limit is no longer told.
type RateLimitError struct {
	RetryAfter time.Duration // until the window ends; at least a second, whole seconds
	cause      error
}

func (e *RateLimitError) Error() string {
	return fmt.Sprintf("sessiond: %v (retry after %v): %v", ErrRateLimited, e.RetryAfter, e.cause)
}

// Is reports whether target is ErrRateLimited.
func (e *RateLimitError) Is(target error) bool { return target == ErrRateLimited }

// refreshLimit counts failed refreshes per subject in a WindowCounter: the
// store's, so every node shares the count, or this process's.
type refreshLimit struct {
	FailureLimit
	counter WindowCounter // nil: no limit
}

func newRefreshLimit(o Options) refreshLimit {
	if o.RefreshFailures.Max == 0 {
		return refreshLimit{}
	}
	l := refreshLimit{FailureLimit: o.RefreshFailures}
	if c, ok := o.Store.(WindowCounter); ok {
		l.counter = c
	} else {
		l.counter = &CounterMemory{}
	}
	return l
}

// refreshFailureKey is the counter key of subject: a hash, so that keys are
// short and printable whatever the subject, and the counters hold no
// subject in clear.
func refreshFailureKey(subject string) string {
	sum := sha256.Sum256([]byte(subject))
	return "refresh_failures:" + base64.RawURLEncoding.EncodeToString(sum[:18])
}

// clockSkewKey is the counter key of the refusals of session id for the
// client's clock (ErrClockSkew), hashed as refreshFailureKey's subject.
func clockSkewKey(id SessionID) string {
	sum := sha256.Sum256([]byte(id))
	return "refresh_clock_skew:" + base64.RawURLEncoding.EncodeToString(sum[:18])
}

// refreshFailed counts err, a refresh of subject's session that failed, and
// returns what the caller is told: err, or a *RateLimitError once the
// subject's failures in the window pass the limit. A failure that names no
// subject (the token is no genuine token of a session), or that is the
// server's (the store did not answer, or gave up: ErrConflict), is not
// counted. A refusal for the client's clock (ErrClockSkew) is counted
// against its session alone, under the same limit: a phone with its clock
// off does not bring its user's other devices to the limit, and a thief
// replaying an old proof of the session's key with a stolen refresh token,
// refused the same way, is still bounded. If the count cannot
// be kept, err is returned as it is: the limit is a brake, not a gate.
func (m *Manager) refreshFailed(ctx context.Context, s *Session, err error, now time.Time) error {
	l := m.fails
	if l.counter == nil || s == nil || s.Subject == "" {
		return err
	}
	skew := errors.Is(err, ErrClockSkew) && s.ID != ""
	if !skew && !countsAsRefreshFailure(err) {
		return err
	}
	key := refreshFailureKey(s.Subject)
	if skew {
		key = clockSkewKey(s.ID)
	}
	n, reset, cerr := l.counter.Incr(ctx, key, now, l.Window)
	if cerr != nil {
		m.storeErr.check("incr", cerr)
		m.log.WarnContext(ctx, "failed refresh not counted", "err", cerr)
		return err
	}
	if n <= int64(l.Max) {
		return err
	}
	switch {
	case n != int64(l.Max)+1:
	case skew:
		m.log.WarnContext(ctx, "refreshes of one session refused for the client's clock over the limit; refusing them until the window ends",
			"subject", s.Subject, "session_id", s.ID, "limit", l.Max, "window", l.Window, "until", reset)
	default:
		m.log.WarnContext(ctx, "failed refreshes of one subject over the limit; refusing them until the window ends",
			"subject", s.Subject, "session_id", s.ID, "limit", l.Max, "window", l.Window, "until", reset)
	}
	retry := reset.Sub(now)
	if whole := retry.Truncate(time.Second); whole < retry {
		retry = whole + time.Second
	}
	return &RateLimitError{RetryAfter: max(retry, time.Second), cause: err}
}

// countsAsRefreshFailure: everything the client's token or proof decided,
// not what the server failed at (the store unavailable, or giving up on
// concurrent changes: ErrConflict, pgstore's lock timeout or lost
// serialization, answered 503 as such), nor a challenge it asked the client to
// meet, nor the clock of the bound key's holder (ErrClockSkew, counted
// per session instead: refreshFailed): a phone whose clock is hours off,
// retrying, would use up the limit of every device of its user, whose own
// refusals then lose their reason to a 429.
func countsAsRefreshFailure(err error) bool {
	return err != nil && !errors.Is(err, ErrStoreUnavailable) && !errors.Is(err, ErrConflict) && !errors.Is(err, ErrRateLimited) && !errors.Is(err, ErrChallenge) &&
		!errors.Is(err, ErrClockSkew) && !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded)
}
