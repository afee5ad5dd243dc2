package sessiond

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

// Anomaly is one suspicious difference between the client a session was
// issued to and the client presenting it.
type Anomaly struct {
	Rule   AnomalyRule   `json:"rule"`
	Action AnomalyAction `json:"action"`
	Detail string        `json:"detail"` // never a token
	// Once: the checker reports this finding once per occurrence already
	// (package anomaly's distinct_ips, once per crossing), so the Manager
	// records every one rather than deduplicating repeats.
	Once bool `json:"-"`
}

// AnomalyRule names a rule of the AnomalyChecker (package anomaly's are
// ip_change, user_agent_change, distinct_ips and refresh_device_change).
type AnomalyRule string

// AnomalyAction is what the Manager does with an anomaly.
type AnomalyAction string

// Anomaly actions, weakest first.
const (
	// AnomalyLog records the anomaly; the request proceeds.
	AnomalyLog AnomalyAction = "log"
	// AnomalyAlert records it as an event operators are alerted on; the
	// request proceeds.
	AnomalyAlert AnomalyAction = "alert"
	// AnomalyStepUp keeps the session valid, but verify or refresh reports
	// that re-authentication is required.
	AnomalyStepUp AnomalyAction = "step_up"
	// AnomalyRevoke revokes the session (ReasonAnomaly); the request
	// fails with ErrRevoked.
	AnomalyRevoke AnomalyAction = "revoke"
)

// Valid reports whether a is one of the four actions.
func (a AnomalyAction) Valid() bool {
	switch a {
	case AnomalyLog, AnomalyAlert, AnomalyStepUp, AnomalyRevoke:
		return true
	}
	return false
}

// AnomalyStage is the operation during which the anomaly rules run.
type AnomalyStage string

// Anomaly stages.
const (
	StageVerify  AnomalyStage = "verify"
	StageRefresh AnomalyStage = "refresh"
)

// AnomalyChecker evaluates a request's client against the session's
// (implemented by *anomaly.Detector). issued is empty when the strategy
// does not know it (stateless verify). It must be safe for concurrent use.
type AnomalyChecker interface {
	Check(now time.Time, stage AnomalyStage, id SessionID, issued, current Client) []Anomaly
}

// EventAnomaly is recorded for every anomaly found: at most once per
// session, rule and detail per anomalyEventEvery, and at most
// anomalyPerSession a session in that time, except revoke and Once
// findings, which are always recorded.
const EventAnomaly EventType = "session.anomaly"

// Verification is what Inspect returns: the session and what the anomaly
// rules made of the request.
type Verification struct {
	Session   Session
	Anomalies []Anomaly
	// StepUp: an anomaly rule with action step_up fired; the session stays
	// valid but the caller should ask the user to authenticate again.
	StepUp bool
}

// anomalyEventEvery limits how often one rule's finding on one session is
// recorded, since a changed client keeps triggering it on every request.
const anomalyEventEvery = 10 * time.Minute

// anomalyPerSession bounds the findings recorded per session in any
// anomalyEventEvery (beyond those recorded always: revoke, and Once). A
// finding differs by its detail, the masked network among them, so
// without it a holder of any session (their own) could record an event
// per request by moving through networks: an IPv6 /48 holds 65,536 /64s.
// The action of a finding not recorded still applies.
const anomalyPerSession = 10

// anomalyDedup remembers when a (session, rule, detail) finding was last
// recorded, and when each session recorded its latest findings.
type anomalyDedup struct {
	mu   sync.Mutex
	seen map[string]time.Time
	// recorded holds, per session, the times (Unix nanoseconds: 8 bytes,
	// not a time.Time's 24) of its findings recorded within the last
	// anomalyEventEvery, oldest first. A sliding window: no window edge,
	// global or the session's own, lets a session record twice its budget
	// in a row.
	recorded map[SessionID][]int64
}

const anomalyDedupMax = 100000

// anomalyDedupKeep is the most a scan for room may leave: a scan that
// frees less than a quarter clears the map instead, so a map full of
// recent entries is scanned at most once per anomalyDedupMax/4 new ones,
// not on every one (a scan is 100,000 entries under the lock).
const anomalyDedupKeep = anomalyDedupMax * 3 / 4

// first reports whether the finding key of session id is to be recorded
// at now: not recorded within anomalyEventEvery, and the session with
// fewer than anomalyPerSession findings recorded within the
// anomalyEventEvery before now.
func (d *anomalyDedup) first(id SessionID, key string, now time.Time) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.seen == nil {
		d.seen = make(map[string]time.Time)
		d.recorded = make(map[SessionID][]int64)
	}
	if t, ok := d.seen[key]; ok && now.Sub(t) < anomalyEventEvery {
		return false
	}
	at := now.UnixNano()
	times, ok := d.recorded[id]
	times = times[:copy(times, recentFindings(times, at))]
	if len(times) >= anomalyPerSession {
		d.recorded[id] = times
		return false
	}
	if !ok && len(d.recorded) >= anomalyDedupMax {
		for s, ts := range d.recorded {
			if len(recentFindings(ts, at)) == 0 {
				delete(d.recorded, s)
			}
		}
		if len(d.recorded) > anomalyDedupKeep {
			clear(d.recorded) // worst case: a burst of extra events, never a missed one
		}
	}
	d.recorded[id] = append(times, at)
	if len(d.seen) >= anomalyDedupMax {
		for k, t := range d.seen {
			if now.Sub(t) >= anomalyEventEvery {
				delete(d.seen, k)
			}
		}
		if len(d.seen) > anomalyDedupKeep {
			clear(d.seen) // worst case: a burst of duplicate events, never a missed one
		}
	}
	d.seen[key] = now
	return true
}

// recentFindings returns the tail of times (oldest first) within
// anomalyEventEvery before at. A time after at (the clock stepped back)
// empties it: a session is not held silent for as long as the step.
func recentFindings(times []int64, at int64) []int64 {
	if len(times) > 0 && times[len(times)-1] > at {
		return nil
	}
	for i, t := range times {
		if at-t < int64(anomalyEventEvery) {
			return times[i:]
		}
	}
	return nil
}

// anomalies runs the checker, records what it finds, and applies the
// strongest action: revoke ends the session (returned as ErrRevoked).
func (m *Manager) anomalies(ctx context.Context, stage AnomalyStage, s *Session, issued, current Client) ([]Anomaly, bool, error) {
	cur, err := CleanClient(current)
	if err != nil {
		return nil, false, err
	}
	now := m.clock.Now()
	found := m.anomaly.Check(now, stage, s.ID, issued, cur)
	stepUp, revoke := false, false
	for _, a := range found {
		// The dedup stops a rule that repeats on every request (the same
		// change, request after request) from flooding the log; a
		// different change (another network: a thief's) is recorded,
		// within the session's budget, and a finding reported once per
		// occurrence already, always.
		if a.Once || a.Action == AnomalyRevoke ||
			m.dedup.first(s.ID, string(s.ID)+"\x00"+string(a.Rule)+"\x00"+a.Detail, now) {
			// Details hold plain strings, as events are read back from JSON.
			m.emit(ctx, Event{Type: EventAnomaly, Subject: s.Subject, SessionID: s.ID, Client: cur,
				Details: map[string]any{"rule": string(a.Rule), "action": string(a.Action), "detail": a.Detail, "stage": string(stage)}})
		}
		switch a.Action {
		case AnomalyStepUp:
			stepUp = true
		case AnomalyRevoke:
			revoke = true
		}
	}
	if !revoke {
		return found, stepUp, nil
	}
	if m.flow.keepsSessions() {
		if _, _, err := m.revoke(ctx, s.ID, m.now(), ReasonAnomaly); err != nil && !errors.Is(err, ErrNotFound) {
			return found, stepUp, err
		}
	}
	// Without stored sessions there is nothing to revoke: refuse this
	// request.
	return found, stepUp, fmt.Errorf("sessiond: %s: anomaly: %w", stage, ErrRevoked)
}
