package sessiond

import (
	"fmt"
	"time"
)

// Lifetimes are the durations every expiry is computed from. The formulas,
// implemented by Manager and documented in docs/lifecycle.md:
//
//	absolute  = created + (persistent ? Refresh : min(Absolute, Refresh))
//	database:  idle = persistent ? absolute : min(last_active + Idle, absolute)
//	           access token expiry = absolute
//	jwt/hybrid: access expiry  = min(issued + Access, absolute)
//	           idle = persistent ? absolute : min(access expiry + Idle, absolute)
//	           refresh expiry = idle
//
// In the token strategies the idle window starts when the last access token
// expires: a client that stays away for Idle after that must log in again.
type Lifetimes struct {
	Access   time.Duration // access token lifetime (jwt, hybrid)
	Refresh  time.Duration // refresh token lifetime; caps every session
	Idle     time.Duration // idle timeout of non-persistent sessions
	Absolute time.Duration // absolute timeout of non-persistent sessions
}

// Signed is how long the longest-lived token strategy signs can live, so
// how long its key ring must keep a retired key verifying: the access token
// in hybrid (whose refresh tokens are opaque and stored), the refresh token
// in jwt. The database strategy signs no session token; a ring it keeps
// (for Shared Signals, signed when sent) gets Refresh, as before.
func (l Lifetimes) Signed(s Strategy) time.Duration {
	if s == StrategyHybrid {
		return l.Access
	}
	return l.Refresh
}

// Preset names.
const (
	PresetB2B      = "b2b"
	PresetB2C      = "b2c"
	PresetInternal = "internal"
)

// Default idle and absolute timeouts of a non-persistent session.
const (
	DefaultIdle     = 30 * time.Minute
	DefaultAbsolute = 8 * time.Hour
)

// Preset returns the lifetimes of a named preset: b2b 15m/7d, b2c 1h/30d,
// internal 8h/90d (access/refresh), each with the default idle (30m) and
// absolute (8h) timeouts.
func Preset(name string) (Lifetimes, error) {
	l := Lifetimes{Idle: DefaultIdle, Absolute: DefaultAbsolute}
	switch name {
	case PresetB2B:
		l.Access, l.Refresh = 15*time.Minute, 7*24*time.Hour
	case PresetB2C:
		l.Access, l.Refresh = time.Hour, 30*24*time.Hour
	case PresetInternal:
		l.Access, l.Refresh = 8*time.Hour, 90*24*time.Hour
	default:
		return Lifetimes{}, fmt.Errorf("unknown preset %q (want b2b, b2c or internal): %w", name, ErrInvalidArgument)
	}
	return l, nil
}

// MaxLifetime is the longest access or refresh lifetime a Manager
// accepts: a century. A Duration holds about 292 years, and those two are
// added to other durations (the revoked set keeps an entry for
// RevokeWriteMargin + Access + leeway; a signed token is checked against
// its lifetime + leeway): near that limit the sum overflows to a negative
// Duration, and a hybrid Manager forgot a revocation at once, the
// session's access tokens verifying again. Idle and Absolute are only
// added to times, and the refresh lifetime caps every session anyway, so
// a larger value there (an idle timeout set out of reach) stays accepted.
const MaxLifetime = 100 * 365 * 24 * time.Hour

func (l Lifetimes) validate() error {
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"access", l.Access}, {"refresh", l.Refresh}, {"idle", l.Idle}, {"absolute", l.Absolute}} {
		if d.v <= 0 {
			return argError("lifetimes."+d.name, "must be positive, got %s", d.v)
		}
		if (d.name == "access" || d.name == "refresh") && d.v > MaxLifetime {
			return argError("lifetimes."+d.name, "must be at most %s (100 years), got %s", MaxLifetime, d.v)
		}
	}
	return nil
}

// sessionEnd is the absolute expiry of a session created at created.
func (l Lifetimes) sessionEnd(created time.Time, persistent bool) time.Time {
	if persistent {
		return after(created, l.Refresh)
	}
	return after(created, min(l.Absolute, l.Refresh))
}

// idleEnd is the idle expiry when the idle window starts at from.
func (l Lifetimes) idleEnd(from, absolute time.Time, persistent bool) time.Time {
	if persistent {
		return absolute
	}
	return minTime(after(from, l.Idle), absolute)
}

// accessEnd is the expiry of an access token issued at issued.
func (l Lifetimes) accessEnd(issued, absolute time.Time) time.Time {
	return minTime(after(issued, l.Access), absolute)
}

// after is t + d cut to the microsecond, the precision of every time a
// store keeps: a lifetime with a fraction of a microsecond (a duration
// such as 30m0.0000005s parses) would otherwise give an expiry that the
// answer and the store state differently. Cut, not rounded: never later
// than configured.
func after(t time.Time, d time.Duration) time.Time {
	return t.Add(d).Truncate(time.Microsecond)
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

// ExpiresIn is a token's expires_in (RFC 6749 §5.1) in an answer written
// at now: the whole seconds from now to end, rounded down, so that a
// client counting them from the answer's arrival never holds the token
// past end, and zero once end has passed. A device whose clock is off
// cannot compare end with its clock, but can count seconds. Every token
// answer computes it here: the API's and httpsession's refresh endpoint.
func ExpiresIn(end, now time.Time) int64 {
	return max(0, int64(end.Sub(now)/time.Second))
}
