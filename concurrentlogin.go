package sessiond

import (
	"context"
	"fmt"
	"sync"
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
// one per subject a minute and concurrentMax a minute per node; none for
// a login over concurrentStale old when its check's turn comes. The jwt
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
	// concurrentInFlight bounds the checks' reads in flight at once on a
	// node. One at a time, a store 20 ms away answers only 50 a second;
	// eight keep up with concurrentRate up to 80 ms a read. The extra load
	// stays at most concurrentRate reads a second, wherever the store is.
	concurrentInFlight = 8
	// concurrentQueue logins wait for their check; past it (a store too
	// slow for the checks, or failing) a login is not checked either.
	concurrentQueue = 1024
	// concurrentTimeout bounds one check's read.
	concurrentTimeout = 5 * time.Second
	// concurrentRead bounds the sessions one check reads (two pages of
	// subjectPage): at 100 checks a second, reading every session of a
	// subject with 100,000 of them would occupy any store.
	concurrentRead = 2 * subjectPage
	// concurrentBatch bounds the events judged and not yet recorded. They
	// are recorded in one call of a BatchSink, so a run of alerts costs a
	// store write or two, not a round trip each; 64 a write keeps up with
	// concurrentRate even when one write takes 600 ms.
	concurrentBatch = 64
	// concurrentStale is the age of a login past which its check is
	// dropped (and counted as skipped) rather than judged: an alert long
	// after its login, from a store that hung then answered, only
	// misleads. It is over what a working store can make a check wait: a
	// full queue at concurrentRate (about 10 s) and one read's
	// concurrentTimeout; and under concurrentWindow, the per-subject
	// throttle's.
	concurrentStale = 30 * time.Second
)

// concurrentChecks runs the concurrent-login check of each login off the
// request's path: at most concurrentRate a second, at most
// concurrentInFlight reads at once, judged and their events recorded in
// the order the logins were queued; a check whose login is older than
// concurrentStale is dropped.
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

// concurrentCheck is one login's check: the read of its subject's sessions
// runs on its own goroutine and closes done once the fields below are set.
type concurrentCheck struct {
	s    *Session
	done chan struct{}

	others     int  // s's subject's live sessions created before s
	sameDevice bool // one of them has s's User-Agent
	complete   bool // every session of the subject was read
	err        error
}

// checkConcurrent runs the queued checks until ctx ends. Reads run on their
// own goroutines, concurrentInFlight at most at once (one while the store
// fails), so that a store a network away still keeps up with
// concurrentRate; this goroutine judges their results one at a time in
// queue order, so the event throttle sees the logins in the order it
// would with one read at a time, and hands the events to one goroutine
// that records them in that order. A check whose login is older than
// concurrentStale when its turn comes (to be read, or judged) is dropped
// and counted as skipped.
func (m *Manager) checkConcurrent(ctx context.Context) {
	defer m.wg.Done()
	var reads sync.WaitGroup
	defer reads.Wait()
	// Recording an event is a store write, a round trip or more: on a far
	// store, done here it would hold up the reads behind it. One goroutine
	// records them, in the order judged; the events judged while it
	// records go to it together, recorded in one call of a BatchSink (one
	// write for the run instead of a round trip each). When
	// concurrentBatch of them wait, this one waits, and the queue sheds
	// checks.
	records := make(chan []Event)
	reads.Add(1)
	go func() {
		defer reads.Done()
		for {
			select {
			case <-ctx.Done():
				return
			case es := <-records:
				m.recordEvents(ctx, es)
			}
		}
	}()
	var pending []*concurrentCheck // in queue order
	var judged []Event             // stamped and logged, in queue order
	var lastID string              // of the last event judged
	limit := concurrentInFlight
	for {
		var queue <-chan *Session
		if len(pending) < limit {
			queue = m.concurrent.queue
		}
		var head <-chan struct{}
		if len(pending) > 0 && len(judged) < concurrentBatch {
			head = pending[0].done
		}
		var record chan<- []Event
		if len(judged) > 0 {
			record = records
		}
		select {
		case <-ctx.Done():
			return
		case record <- judged:
			judged = nil
		case s := <-queue:
			if m.staleConcurrent(s) {
				continue
			}
			c := &concurrentCheck{s: s, done: make(chan struct{})}
			pending = append(pending, c)
			reads.Add(1)
			go func() {
				defer reads.Done()
				defer close(c.done)
				m.readConcurrent(ctx, c)
			}()
		case <-head:
			c := pending[0]
			pending[0] = nil
			pending = pending[1:]
			// A store that fails (or times out) gets one read at a time
			// until one succeeds, as before reads ran side by side: the
			// checks it cannot answer are shed by the queue, not piled
			// on it.
			limit = concurrentInFlight
			if c.err != nil {
				limit = 1
			}
			if m.staleConcurrent(c.s) {
				continue
			}
			if e, ok := m.judgeConcurrent(c); ok {
				// Stamped and logged here: the event's time is when it
				// was judged, in login order, not when its run is written.
				// Its ID sorts after the last one's: the log is read in
				// ID order, and a run judged within one microsecond, or
				// across a step back of the wall clock, would otherwise be
				// out of order there. Across a step back its time stays
				// the last one's, which its ID encodes (eventIDAfter).
				e.ID, e.Time = eventIDAfter(lastID, m.now())
				lastID = e.ID
				e = m.stamp(e)
				m.logEvent(ctx, e)
				judged = append(judged, e)
			}
		}
	}
}

// staleConcurrent reports whether s's login is older than concurrentStale,
// and then counts its check as skipped.
func (m *Manager) staleConcurrent(s *Session) bool {
	if m.now().Sub(s.CreatedAt) <= concurrentStale {
		return false
	}
	m.concurrent.skipped.Add(1)
	return true
}

// readConcurrent reads c.s's subject's sessions into c.
func (m *Manager) readConcurrent(ctx context.Context, c *concurrentCheck) {
	ctx, cancel := context.WithTimeout(ctx, concurrentTimeout)
	defer cancel()
	s := c.s
	c.complete, c.err = m.walkSubject(ctx, s.Subject, m.now(), concurrentRead, func(o *Session) bool {
		// Only sessions from before this login: a later one has its own
		// check, which sees this one. Two logins in one microsecond are
		// ordered by ID, so exactly one of them reports the other.
		// Sessions an incident ended are not listed (List leaves them out).
		if (o.CreatedAt.Before(s.CreatedAt) || o.CreatedAt.Equal(s.CreatedAt) && o.ID < s.ID) && !m.marks.revoked(o.Subject, o.CreatedAt) {
			c.others++
			c.sameDevice = c.sameDevice || o.Client.UserAgent == s.Client.UserAgent
		}
		return true
	})
	if c.err != nil && ctx.Err() == nil {
		m.log.WarnContext(ctx, "concurrent login check", "session_id", string(s.ID), "err", fmt.Errorf("sessiond: list: %w", c.err))
	}
}

// judgeConcurrent returns the EventConcurrentLogin of c when c found other
// live sessions of its subject and the throttle lets it out.
func (m *Manager) judgeConcurrent(c *concurrentCheck) (Event, bool) {
	s := c.s
	if c.err != nil {
		return Event{}, false
	}
	// Throttled by the login's time, not the check's: the checks run
	// later, on their own goroutine, and a burst judged at whatever time
	// each is reached could give a subject two alerts in a minute or miss
	// one a minute apart.
	if c.others == 0 || !m.concurrent.throttle.allow("", s.Subject, s.CreatedAt) {
		return Event{}, false
	}
	details := map[string]any{"live_sessions": c.others + 1, "new_device": !c.sameDevice}
	if !c.complete {
		details["partial"] = true
	}
	return Event{Type: EventConcurrentLogin, Subject: s.Subject, SessionID: s.ID, Client: s.Client, Details: details}, true
}
