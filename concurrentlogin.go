package sessiond

import (
	"context"
	"fmt"
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
//
// On a SubjectPager store the check reads the subject's newest
// concurrentRead stored sessions (live or not; newest in the store's page
// order, by creation or by absolute expiry) at most, so that a subject
// with very many sessions costs no more than one with a few hundred. When
// it had more, the event's details add "partial": true: live_sessions
// counts the live ones among those read (a lower bound), and new_device
// compares with their User-Agents only; a subject with no live session
// among them has no event.
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
	// concurrentRead bounds the sessions one check reads (two pages of
	// subjectPage): at 100 checks a second, reading every session of a
	// subject with 100,000 of them would occupy any store.
	concurrentRead = 2 * subjectPage
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
	others, sameDevice := 0, false
	complete, err := m.walkSubject(ctx, s.Subject, m.now(), concurrentRead, func(o *Session) bool {
		// Only sessions from before this login: a later one has its own
		// check, which sees this one. Two logins in one microsecond are
		// ordered by ID, so exactly one of them reports the other.
		// Sessions an incident ended are not listed (List leaves them out).
		if (o.CreatedAt.Before(s.CreatedAt) || o.CreatedAt.Equal(s.CreatedAt) && o.ID < s.ID) && !m.marks.revoked(o.Subject, o.CreatedAt) {
			others++
			sameDevice = sameDevice || o.Client.UserAgent == s.Client.UserAgent
		}
		return true
	})
	if err != nil {
		if ctx.Err() == nil {
			m.log.WarnContext(ctx, "concurrent login check", "session_id", string(s.ID), "err", fmt.Errorf("sessiond: list: %w", err))
		}
		return
	}
	// Throttled by the login's time, not the check's: the checks run
	// later, on their own goroutine, and a burst judged at whatever time
	// each is reached could give a subject two alerts in a minute or miss
	// one a minute apart.
	if others == 0 || !m.concurrent.throttle.allow("", s.Subject, s.CreatedAt) {
		return
	}
	details := map[string]any{"live_sessions": others + 1, "new_device": !sameDevice}
	if !complete {
		details["partial"] = true
	}
	m.emit(ctx, Event{Type: EventConcurrentLogin, Subject: s.Subject, SessionID: s.ID, Client: s.Client, Details: details})
}
