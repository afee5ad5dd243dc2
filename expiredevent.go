package sessiond

import (
	"context"
	"errors"
	"time"
)

// EventSessionExpired reports a session refused because it timed out, when
// a token of it comes back: details "reason" ("idle": no activity within
// the idle timeout; "absolute": past its absolute lifetime) and "stage"
// (verify, refresh), with the session, its subject and the client that
// presented the token. The OWASP Session Management Cheat Sheet ("Logging
// Sessions Life Cycle") and ASVS 16.3.3 ask for timeouts in the security
// log. A session nobody uses again ends without one: the collector removes
// it. In the jwt and hybrid strategies an access token is checked without
// its session, so there the timeout shows at refresh. It needs the store
// to still hold the session (Store.Get's wall-clock caveat): on
// redisstore, whose keys end at the session's absolute expiry, an
// absolute timeout is an unknown token (EventUnknownToken, "not_found").
const EventSessionExpired EventType = "session.expired"

// Bounds on EventSessionExpired, per node: one per session a minute (a
// client retrying its dead token is one event, not one a request), and at
// most expiredMax per reason a minute (a mass return at the end of the
// working day must not flood the durable log and webhooks).
// sessiond_verify_total{outcome="idle_timeout"|"absolute_timeout"} still
// counts every refusal at verify.
const (
	expiredWindow     = time.Minute
	expiredPerSession = 1
	expiredMax        = 600
)

// noteExpired emits EventSessionExpired for a token of s that stage refused
// because s timed out, within the bounds above.
func (m *Manager) noteExpired(ctx context.Context, stage AnomalyStage, s *Session, client Client, err error, now time.Time) {
	var reason string
	switch {
	case errors.Is(err, ErrAbsoluteTimeout):
		reason = "absolute"
	case errors.Is(err, ErrIdleTimeout):
		reason = "idle"
	default:
		return
	}
	if s.ID == "" || !m.expired.allow(reason, string(s.ID), now) {
		return
	}
	m.emit(ctx, Event{Type: EventSessionExpired, Subject: s.Subject, SessionID: s.ID, Client: client,
		Details: map[string]any{"stage": string(stage), "reason": reason}})
}
