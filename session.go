package sessiond

import (
	"crypto/rand"
	"encoding/base32"
	"encoding/json"
	"log/slog"
	"time"
)

// Strategy says how access tokens are issued and checked.
type Strategy string

// The three strategies.
const (
	// StrategyDatabase: the access token is an opaque session token; every
	// verify reads the store, so revocation is instant.
	StrategyDatabase Strategy = "database"
	// StrategyJWT: access and refresh tokens are signed JWTs and nothing is
	// stored; a single session cannot be revoked before its tokens expire.
	StrategyJWT Strategy = "jwt"
	// StrategyHybrid: a short-lived JWT access token plus an opaque, stored,
	// rotating refresh token; verify checks the signature and an in-process
	// set of revoked session IDs.
	StrategyHybrid Strategy = "hybrid"
)

// Valid reports whether s is one of the three strategies.
func (s Strategy) Valid() bool {
	return s == StrategyDatabase || s == StrategyJWT || s == StrategyHybrid
}

// SessionID identifies a session. It is public (it travels in the JWT `sid`
// claim and in admin URLs), never a credential.
type SessionID string

var idEncoding = base32.StdEncoding.WithPadding(base32.NoPadding)

// sessionIDLen is the encoded length of a 128-bit ID.
const sessionIDLen = 26

// NewSessionID returns a fresh random ID: 128 bits from crypto/rand, base32
// (lowercase letters and digits 2-7), 26 characters.
func NewSessionID() SessionID {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails on supported platforms
	return SessionID(lower(idEncoding.EncodeToString(b[:])))
}

// Valid reports whether id has the shape NewSessionID produces. Use it to
// reject garbage from URLs before it reaches a store.
func (id SessionID) Valid() bool {
	if len(id) != sessionIDLen {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !(c >= 'a' && c <= 'z' || c >= '2' && c <= '7') {
			return false
		}
	}
	return true
}

func lower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c >= 'A' && c <= 'Z' {
			b[i] = c + ('a' - 'A')
		}
	}
	return string(b)
}

// Secret is a raw bearer value: an access token, a refresh token or an API
// key. It prints as REDACTED so it cannot reach a log line by accident; use
// string(s) where the value itself is needed.
type Secret string

// String returns "REDACTED".
func (Secret) String() string { return "REDACTED" }

// GoString returns "REDACTED" so %#v is safe too.
func (Secret) GoString() string { return "REDACTED" }

// LogValue keeps the value out of slog output.
func (Secret) LogValue() slog.Value { return slog.StringValue("REDACTED") }

// MarshalText keeps the value out of encoders that reach it by reflection.
// Code that must send a token (the HTTP API) converts it to string explicitly.
func (Secret) MarshalText() ([]byte, error) { return []byte("REDACTED"), nil }

// Client is what a session was issued to, or what a request comes from.
type Client struct {
	IP        string `json:"ip"`
	UserAgent string `json:"user_agent"`
}

// RevokeReason says why a session ended early.
type RevokeReason string

// Revocation reasons recorded on sessions and in the event log.
const (
	ReasonLogout   RevokeReason = "logout"
	ReasonAdmin    RevokeReason = "admin"
	ReasonRotated  RevokeReason = "rotated"  // replaced by a new session ID (login, privilege change)
	ReasonLimit    RevokeReason = "limit"    // evicted by the concurrent-session limit
	ReasonAnomaly  RevokeReason = "anomaly"  // an anomaly rule with action revoke
	ReasonReuse    RevokeReason = "reuse"    // refresh-token reuse (theft) detected
	ReasonIncident RevokeReason = "incident" // the incident kill switch
	ReasonRetried  RevokeReason = "retried"  // replaced by a login sent again with its idempotency key (LoginRetry)
)

// Session is one authenticated session of a subject. Times are UTC.
//
// Its JSON form uses the names of the server's API (id, subject,
// created_at…); revoked_at and revoke_reason appear only once it is revoked,
// claims only when set. A session holds no token, so it is safe to write.
type Session struct {
	ID       SessionID `json:"id"`
	Subject  string    `json:"subject"`
	Strategy Strategy  `json:"strategy"`

	CreatedAt     time.Time `json:"created_at"`
	LastActiveAt  time.Time `json:"last_active_at"`
	IdleExpiresAt time.Time `json:"idle_expires_at"` // no activity by then ends the session
	ExpiresAt     time.Time `json:"expires_at"`      // absolute end, whatever the activity

	Persistent bool            `json:"persistent"` // "remember me": lives up to the refresh lifetime, no idle timeout
	Client     Client          `json:"client"`
	Claims     json.RawMessage `json:"claims,omitempty"` // a JSON object, or nil

	RevokedAt    time.Time    `json:"revoked_at,omitzero"` // zero while not revoked
	RevokeReason RevokeReason `json:"revoke_reason,omitempty"`
}

// Revoked reports whether the session was revoked.
func (s *Session) Revoked() bool { return !s.RevokedAt.IsZero() }

// Check reports why s is not usable at now: ErrRevoked, ErrAbsoluteTimeout,
// ErrIdleTimeout, or nil when it is live.
func (s *Session) Check(now time.Time) error {
	switch {
	case s.Revoked():
		return ErrRevoked
	// The timeout that passed first ended it: idle, when its end came
	// before the absolute end (a session presented days later is past
	// both, and idled out long before).
	case !now.Before(s.IdleExpiresAt) && s.IdleExpiresAt.Before(s.ExpiresAt):
		return ErrIdleTimeout
	case !now.Before(s.ExpiresAt):
		return ErrAbsoluteTimeout
	case !now.Before(s.IdleExpiresAt):
		return ErrIdleTimeout
	}
	return nil
}

// Live reports whether Check(now) is nil.
func (s *Session) Live(now time.Time) bool { return s.Check(now) == nil }
