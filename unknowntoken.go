package sessiond

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"sync"
	"time"
)

// EventUnknownToken reports that a token no session of this deployment
// holds was presented to verify or refresh: someone guessing or forging
// session IDs, or a client holding a token from elsewhere. Details:
// "stage" (verify, refresh) and "reason": "forged" (malformed, a bad
// checksum, a signature or form that does not check out), "not_found" (a
// well-formed opaque token the store does not hold: never issued, or
// issued and since collected, as a browser's refresh cookie is after its
// session's idle timeout; the two cannot be told apart) or "retired_key"
// (a token naming a signing key this deployment dropped on purpose, within
// the lifetime of the tokens it signed: ErrKeyRetired, a client still
// holding a token from before a kill switch with key rotation; its
// signature cannot be checked, the key being gone). No subject or
// session: there is none. The OWASP Session Management Cheat Sheet asks
// for an alert on never-issued IDs ("Strict Session Management", "Session
// ID Guessing").
const EventUnknownToken EventType = "session.unknown_id"

// errNotStored is the ErrInvalidToken of a well-formed opaque token the
// store does not hold (EventUnknownToken's "not_found").
var errNotStored = fmt.Errorf("%w: no session holds it", ErrInvalidToken)

// Bounds on EventUnknownToken, per node and per reason: a guesser sending
// thousands of tokens a second must not become thousands of events (the
// durable log, webhooks), and returning users' collected refresh cookies
// (not_found), nor clients' tokens after a kill switch (retired_key), use
// up the budget of forged tokens. sessiond_verify_total counts every one of
// them: outcome "retired_key" for ErrKeyRetired, "token_invalid" the rest.
const (
	unknownTokenWindow = time.Minute
	unknownTokenPerIP  = 1  // events per client IP per reason per window
	unknownTokenMax    = 60 // events per reason per window over all IPs
)

// eventThrottle bounds one kind of event per node: in each window, at most
// perKey events for a group and key (a reason and a client IP, say) and max
// for a group over all keys. The zero value allows nothing.
type eventThrottle struct {
	window      time.Duration
	perKey, max int

	mu    sync.Mutex
	start time.Time      // the current window's
	sent  map[string]int // events per group in the current window
	seen  map[string]int // events per group and key in the current window (at most max a group)
}

// allow reports whether an event of group and key at now may be emitted.
func (u *eventThrottle) allow(group, key string, now time.Time) bool {
	u.mu.Lock()
	defer u.mu.Unlock()
	// A time a little before the window's start (events judged by when
	// they happened reach here slightly out of order) counts in it; only
	// a clock stepped back a whole window starts a new one.
	if u.seen == nil || now.Sub(u.start) >= u.window || u.start.Sub(now) >= u.window {
		u.start, u.sent, u.seen = now, make(map[string]int), make(map[string]int)
	}
	k := group + " " + key
	n := u.seen[k]
	if u.sent[group] >= u.max || n >= u.perKey {
		return false
	}
	u.seen[k] = n + 1
	u.sent[group]++
	return true
}

// noteUnknown emits EventUnknownToken for a token stage refused as not
// held here (err matches ErrInvalidToken), within the bounds above.
func (m *Manager) noteUnknown(ctx context.Context, stage AnomalyStage, client Client, err error) {
	if !errors.Is(err, ErrInvalidToken) {
		return
	}
	reason := "forged"
	switch {
	case errors.Is(err, errNotStored):
		reason = "not_found"
	case errors.Is(err, ErrKeyRetired):
		reason = "retired_key"
	}
	if !m.unknown.allow(reason, addrKey(client.IP), m.clock.Now()) {
		return
	}
	m.emit(ctx, Event{Type: EventUnknownToken, Client: client, Details: map[string]any{"stage": string(stage), "reason": reason}})
}

// addrKey is the sender an event throttle counts a client address as: an
// IPv6 address by its /64, which one host holds whole (each request from a
// new address would otherwise be a new sender), an IPv4 one by itself.
func addrKey(ip string) string {
	a, err := netip.ParseAddr(ip)
	if err != nil || a.Unmap().Is4() {
		return ip
	}
	p, err := a.WithZone("").Prefix(64)
	if err != nil {
		return ip
	}
	return p.String()
}
