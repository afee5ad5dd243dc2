package sessiond

import (
	"context"
	"errors"
	"sync"
	"time"
)

// EventUnknownToken reports that a token sessiond did not issue (an opaque
// token no session holds, a JWT whose signature or form does not check
// out) was presented to verify or refresh: someone guessing or forging
// session IDs, or a client holding a token from another deployment.
// Details: "stage" (verify, refresh). No subject or session: there is none.
// The OWASP Session Management Cheat Sheet asks for an alert on
// never-issued IDs ("Strict Session Management", "Session ID Guessing").
const EventUnknownToken EventType = "session.unknown_id"

// Bounds on EventUnknownToken, per node: a guesser sending thousands of
// tokens a second must not become thousands of events (the durable log,
// webhooks). sessiond_verify_total{outcome="token_invalid"} counts every
// one of them.
const (
	unknownTokenWindow = time.Minute
	unknownTokenPerIP  = 1  // events per client IP per window
	unknownTokenMax    = 60 // events per window over all IPs
)

// unknownTokens throttles EventUnknownToken: the first unknown token from
// an IP in a window is reported, the rest of the window's are not.
type unknownTokens struct {
	mu    sync.Mutex
	start time.Time      // the current window's
	sent  int            // events in the current window
	seen  map[string]int // events per IP in the current window (at most unknownTokenMax IPs)
}

// allow reports whether an unknown token from ip at now gets its event.
func (u *unknownTokens) allow(ip string, now time.Time) bool {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.seen == nil || now.Sub(u.start) >= unknownTokenWindow || now.Before(u.start) {
		u.start, u.sent, u.seen = now, 0, make(map[string]int)
	}
	n := u.seen[ip]
	if u.sent >= unknownTokenMax || n >= unknownTokenPerIP {
		return false
	}
	u.seen[ip] = n + 1
	u.sent++
	return true
}

// noteUnknown emits EventUnknownToken for a token stage refused as not
// issued here (err matches ErrInvalidToken), within the bounds above.
func (m *Manager) noteUnknown(ctx context.Context, stage AnomalyStage, client Client, err error) {
	if !errors.Is(err, ErrInvalidToken) || !m.unknown.allow(client.IP, m.clock.Now()) {
		return
	}
	m.emit(ctx, Event{Type: EventUnknownToken, Client: client, Details: map[string]any{"stage": string(stage)}})
}
