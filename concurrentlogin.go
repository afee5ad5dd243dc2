package sessiond

import (
	"context"
	"sync/atomic"
	"time"
)

// EventConcurrentLogin reports a login by a subject that already had other
// live sessions: details "live_sessions" (those and the new one) and
// "new_device" (true when none of the others was issued to the new
// session's User-Agent), with the new session, its
// subject and its client. The OWASP Session Management Cheat Sheet
// ("Simultaneous Session Logons") asks to alert on concurrent logins; the
// user sees every session with GET /v1/subjects/{subject}/sessions and
// can end the others.
//
// The check reads the subject's sessions after the login has committed,
// off the request's path: a login waits for no extra read, and the event
// follows its session.created by the time one store read takes. At most
// one per subject a minute and concurrentMax a minute per node. The jwt
// strategy keeps no sessions to compare, so it has none.
const EventConcurrentLogin EventType = "session.concurrent_login"

const (
	concurrentWindow     = time.Minute
	concurrentPerSubject = 1
	concurrentMax        = 600
	// concurrentRate bounds the checks a node runs a second. Each is a
	// store read a login did not otherwise need (a round trip and an
	// index scan: it cost PostgreSQL's logins about a third of their rate
	// when every login of a benchmark was checked); past the rate a login
	// is not checked, and Stats counts it. 100 a second is ten times the
	// events concurrentMax lets out, and more logins than most
	// deployments see on one node.
	concurrentRate = 100
	// concurrentQueue logins wait for their check; past it (a store too
	// slow for the checks) a login is not checked either.
	concurrentQueue = 1024
	// concurrentTimeout bounds one check's read.
	concurrentTimeout = 5 * time.Second
)

// concurrentChecks runs the concurrent-login check of each login, one at a
// time on one goroutine, so checks cost the store at most one extra read
// in flight per node, and at most concurrentRate a second.
type concurrentChecks struct {
	queue    chan *Session
	rate     eventThrottle // checks a second
	throttle eventThrottle // events
	skipped  atomic.Int64
}

func newConcurrentChecks() *concurrentChecks {
	return &concurrentChecks{
		queue:    make(chan *Session, concurrentQueue),
		rate:     eventThrottle{window: time.Second, perKey: concurrentRate, max: concurrentRate},
		throttle: eventThrottle{window: concurrentWindow, perKey: concurrentPerSubject, max: concurrentMax},
	}
}

// noteLogin queues the check of s, a session just created by a login; it
// never blocks.
func (m *Manager) noteLogin(s *Session) {
	if m.concurrent == nil {
		return
	}
	if !m.concurrent.rate.allow("", "", m.clock.Now()) {
		m.concurrent.skipped.Add(1)
		return
	}
	select {
	case m.concurrent.queue <- s:
	default:
		m.concurrent.skipped.Add(1)
	}
}

// checkConcurrent runs the queued checks until ctx ends.
func (m *Manager) checkConcurrent(ctx context.Context) {
	defer m.wg.Done()
	for {
		select {
		case <-ctx.Done():
			return
		case s := <-m.concurrent.queue:
			m.concurrentLogin(ctx, s)
		}
	}
}

// concurrentLogin emits EventConcurrentLogin when s's subject has other
// live sessions.
func (m *Manager) concurrentLogin(ctx context.Context, s *Session) {
	ctx, cancel := context.WithTimeout(ctx, concurrentTimeout)
	defer cancel()
	live, err := m.List(ctx, s.Subject)
	if err != nil {
		if ctx.Err() == nil {
			m.log.WarnContext(ctx, "concurrent login check", "session_id", string(s.ID), "err", err)
		}
		return
	}
	others, sameDevice := 0, false
	for _, o := range live {
		// Only sessions from before this login: a later one has its own
		// check, which sees this one. Two logins in one microsecond are
		// ordered by ID, so exactly one of them reports the other.
		if !o.CreatedAt.Before(s.CreatedAt) && (!o.CreatedAt.Equal(s.CreatedAt) || o.ID >= s.ID) {
			continue
		}
		others++
		sameDevice = sameDevice || o.Client.UserAgent == s.Client.UserAgent
	}
	// Throttled by the login's time, not the check's: the checks run
	// later, on their own goroutine, and a burst judged at whatever time
	// each is reached could give a subject two alerts in a minute or miss
	// one a minute apart.
	if others == 0 || !m.concurrent.throttle.allow("", s.Subject, s.CreatedAt) {
		return
	}
	m.emit(ctx, Event{Type: EventConcurrentLogin, Subject: s.Subject, SessionID: s.ID, Client: s.Client,
		Details: map[string]any{"live_sessions": others + 1, "new_device": !sameDevice}})
}
