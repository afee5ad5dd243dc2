package sessiond_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/internal/jwttest"
	"github.com/sessiond/sessiond/internal/testenv"
	"github.com/sessiond/sessiond/opaquetoken"
	"github.com/sessiond/sessiond/sessiondtest"
)

// pagerStore is what every store sessiond ships is, of what these tests
// need: a SubjectPager, a Limiter and a BulkRevoker with their incident
// watermarks in a MetaStore.
type pagerStore interface {
	nodeStore
	sessiond.SubjectPager
	sessiond.Limiter
	sessiond.BulkRevoker
	sessiond.MetaStore
}

// subjectReads is a real store that counts, by subject, how the Manager
// reads a subject's sessions: List calls (every session of the subject),
// ListPage calls and the sessions they asked to read, ListSpan calls.
type subjectReads struct {
	pagerStore
	mu     sync.Mutex
	counts map[string]*readCounts
}

type readCounts struct{ lists, pages, asked, spans int }

// of returns the counts of subject so far.
func (s *subjectReads) of(subject string) readCounts {
	s.mu.Lock()
	defer s.mu.Unlock()
	if c := s.counts[subject]; c != nil {
		return *c
	}
	return readCounts{}
}

func (s *subjectReads) count(subject string, f func(*readCounts)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.counts == nil {
		s.counts = map[string]*readCounts{}
	}
	if s.counts[subject] == nil {
		s.counts[subject] = &readCounts{}
	}
	f(s.counts[subject])
}

func (s *subjectReads) List(ctx context.Context, subject string, now time.Time) ([]*sessiond.Session, error) {
	s.count(subject, func(c *readCounts) { c.lists++ })
	return s.pagerStore.List(ctx, subject, now)
}

func (s *subjectReads) ListPage(ctx context.Context, q sessiond.PageQuery) (sessiond.Page, error) {
	s.count(q.Subject, func(c *readCounts) { c.pages++; c.asked += q.Limit })
	return s.pagerStore.ListPage(ctx, q)
}

func (s *subjectReads) ListSpan(ctx context.Context, subject string, created, expires, now time.Time) ([]*sessiond.Session, error) {
	s.count(subject, func(c *readCounts) { c.spans++ })
	return s.pagerStore.ListSpan(ctx, subject, created, expires, now)
}

// reset forgets what was counted so far.
func (s *subjectReads) reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.counts = nil
}

// subjectReadsManager is a Manager of strategy on a fresh store of ms,
// counted, its clock at start (near the real time: Redis expires keys by
// the sessions' times).
func subjectReadsManager(t *testing.T, ms managerStore, strategy sessiond.Strategy, start time.Time, mod func(*sessiond.Options)) (*sessiond.Manager, *subjectReads, *sessiondtest.Clock, *sessiondtest.Events) {
	t.Helper()
	ps, ok := ms.nodes(t, 1)[0].(pagerStore)
	if !ok {
		t.Fatalf("the %s store is not a SubjectPager, Limiter, BulkRevoker and MetaStore", ms.name)
	}
	st := &subjectReads{pagerStore: ps}
	clock, events := sessiondtest.NewClock(start), &sessiondtest.Events{}
	codec, _ := jwttest.Codec(t, start, 90*24*time.Hour)
	m := newManager(t, sessiond.Options{
		Strategy: strategy, Store: st, Signed: codec, Opaque: opaquetoken.Codec{},
		Clock: clock, Events: events, GCInterval: -1,
	}, mod)
	return m, st, clock, events
}

// plant stores n live sessions of subject straight into st (no login, no
// check), created a millisecond apart before start, each ending at end,
// all issued to client, after adjust (if any) changes each; then revokes
// the first revoked of them. Eight at a time: a few hundred logins one by
// one take PostgreSQL seconds.
func plant(t *testing.T, st sessiond.Store, subject string, n, revoked int, start, end time.Time, client sessiond.Client,
	adjust ...func(i int, s *sessiond.Session)) []*sessiond.Session {
	t.Helper()
	out := make([]*sessiond.Session, n)
	for i := range out {
		created := start.Add(-time.Duration(n-i) * time.Millisecond)
		s := sessiondtest.NewSession(subject, created)
		s.ExpiresAt, s.Client = end, client
		for _, f := range adjust {
			f(i, s)
		}
		out[i] = s
	}
	var (
		wg     sync.WaitGroup
		failed atomic.Value
	)
	for w := range 8 {
		wg.Go(func() {
			for i := w; i < n; i += 8 {
				if err := st.Create(context.Background(), out[i]); err != nil {
					failed.Store(err)
					return
				}
				if i < revoked {
					if _, err := st.Revoke(context.Background(), out[i].ID, start, sessiond.ReasonLogout); err != nil {
						failed.Store(err)
						return
					}
				}
			}
		})
	}
	wg.Wait()
	if err, _ := failed.Load().(error); err != nil {
		t.Fatalf("plant %d sessions of %s: %v", n, subject, err)
	}
	return out
}

// awaitConcurrent returns subject's n-th session.concurrent_login event
// once there is one.
func awaitConcurrent(t *testing.T, events *sessiondtest.Events, subject string, n int) sessiond.Event {
	t.Helper()
	ctx, cancel := testenv.BeforeDeadline(t) // the checks take as long as the machine is slow
	defer cancel()
	for total := n; ; total++ {
		got, err := events.Await(ctx, sessiond.EventConcurrentLogin, total)
		if err != nil {
			t.Fatalf("%s's concurrent-login event %d: %v", subject, n, err)
		}
		var mine []sessiond.Event
		for _, e := range got {
			if e.Subject == subject {
				mine = append(mine, e)
			}
		}
		if len(mine) >= n {
			return mine[n-1]
		}
	}
}

// TestManager_ConcurrentLoginReadsBounded: the concurrent-login check
// after a login reads the subject's newest 256 sessions at most, in
// pages (SubjectPager), never every session of the subject with List: a
// subject with 600 sessions (100,000 took seconds of store work a login,
// at up to 100 checks a second a node) has its event from those 256,
// marked partial, with live_sessions counting the live ones read. A
// subject with a few sessions has the event exactly as before, without
// "partial". On every store.
func TestManager_ConcurrentLoginReadsBounded(t *testing.T) {
	const huge = 600
	old := sessiond.Client{IP: "192.0.2.1", UserAgent: "old-agent/1.0"}
	fresh := sessiond.Client{IP: "192.0.2.2", UserAgent: "new-agent/2.0"}
	for _, ms := range managerStores() {
		t.Run(ms.name, func(t *testing.T) {
			start := time.Now().UTC().Truncate(time.Second)
			m, st, clock, events := subjectReadsManager(t, ms, sessiond.StrategyDatabase, start, nil)
			ctx := context.Background()
			// Ending an hour from now, before any login's session: the
			// new session is the newest by creation and by expiry alike.
			plant(t, st, "huge", huge, 0, start, start.Add(time.Hour), old)
			for range 2 {
				clock.Advance(time.Millisecond)
				if _, err := m.Create(ctx, "ann", sessiond.CreateOptions{Client: old}); err != nil {
					t.Fatal(err)
				}
			}
			awaitConcurrent(t, events, "ann", 1) // ann's second login
			st.reset()
			clock.Advance(time.Millisecond)
			if _, err := m.Create(ctx, "ann", sessiond.CreateOptions{Client: fresh}); err != nil {
				t.Fatal(err)
			}
			clock.Advance(time.Minute) // past ann's throttle
			if _, err := m.Create(ctx, "ann", sessiond.CreateOptions{Client: old}); err != nil {
				t.Fatal(err)
			}
			ann := awaitConcurrent(t, events, "ann", 2) // the third was throttled
			if want := map[string]any{"live_sessions": 4, "new_device": false}; !sameDetails(ann.Details, want) {
				t.Errorf("ann's event details %v; want %v (no partial)", ann.Details, want)
			}
			st.reset()
			iss, err := m.Create(ctx, "huge", sessiond.CreateOptions{Client: fresh})
			if err != nil {
				t.Fatal(err)
			}
			e := awaitConcurrent(t, events, "huge", 1)
			if e.SessionID != iss.Session.ID {
				t.Errorf("event of session %s; want the login's %s", e.SessionID, iss.Session.ID)
			}
			if want := map[string]any{"live_sessions": 256, "new_device": true, "partial": true}; !sameDetails(e.Details, want) {
				t.Errorf("huge's event details %v; want %v (the newest 256 read: the login and 255 others)", e.Details, want)
			}
			if c := st.of("huge"); c.lists != 0 || c.asked > 256 {
				t.Errorf("the check of a subject with %d sessions: %d List calls, %d sessions asked of ListPage in %d calls; want no List, at most 256",
					huge+1, c.lists, c.asked, c.pages)
			}
		})
	}
}

// sameDetails compares event details as they are emitted (ints, bools).
func sameDetails(got, want map[string]any) bool {
	if len(got) != len(want) {
		return false
	}
	for k, v := range want {
		if got[k] != v {
			return false
		}
	}
	return true
}

// TestManager_ReuseAfterRotationReadsSpan: a replayed retired refresh
// token of a rotated session ends the successor as before, reading the
// successors alone (ListSpan), not every session of the subject with List:
// the replays are the attacker's to repeat, on an account with as many
// sessions as they like. The subject's other sessions live on. On every
// store.
func TestManager_ReuseAfterRotationReadsSpan(t *testing.T) {
	for _, ms := range managerStores() {
		t.Run(ms.name, func(t *testing.T) {
			start := time.Now().UTC().Truncate(time.Second)
			m, st, clock, events := subjectReadsManager(t, ms, sessiond.StrategyHybrid, start, nil)
			ctx := context.Background()
			others := plant(t, st, "reuse", 300, 0, start, start.Add(time.Hour), sessiond.Client{})
			victim, err := m.Create(ctx, "reuse", sessiond.CreateOptions{})
			if err != nil {
				t.Fatal(err)
			}
			awaitConcurrent(t, events, "reuse", 1) // the login's check is over: it reads nothing later
			stolen, err := m.Refresh(ctx, victim.RefreshToken, sessiond.Client{})
			if err != nil {
				t.Fatal(err)
			}
			clock.Advance(10 * time.Second) // past the reuse interval
			succ, err := m.Rotate(ctx, stolen.Session.ID)
			if err != nil {
				t.Fatal(err)
			}
			clock.Advance(10 * time.Second)
			st.reset()
			if _, err := m.Refresh(ctx, victim.RefreshToken, sessiond.Client{}); !errors.Is(err, sessiond.ErrRefreshReused) {
				t.Fatalf("replay of the retired token after a rotation = %v; want ErrRefreshReused", err)
			}
			if c := st.of("reuse"); c.lists != 0 || c.spans != 1 || c.pages != 0 {
				t.Errorf("the replay read List %d times, ListSpan %d, ListPage %d; want ListSpan once, nothing else", c.lists, c.spans, c.pages)
			}
			if got, err := m.Get(ctx, succ.Session.ID); err == nil {
				t.Errorf("the successor after the replay: %+v; want it revoked", got)
			}
			if n := events.Count(sessiond.EventRefreshReused); n != 1 {
				t.Errorf("%d reuse events; want 1", n)
			}
			list, err := m.List(ctx, "reuse")
			if err != nil || len(list) != len(others) {
				t.Errorf("List(reuse) after the replay = %d sessions, %v; want the %d others, live", len(list), err, len(others))
			}
		})
	}
}

// TestManager_BehindMarksReadsBounded: a login the session limit refuses
// under an incident watermark looks for the session another node stored
// in the watermark's second through ListPage, newest first, and ends it,
// as it did with List; among many sessions (revoked ones count: each
// logout leaves one until it expires, whatever the limit) it reads the
// newest 1,024 past the limit at most, and refuses the login as the
// limit does when the one behind the watermark is not among them.
func TestManager_BehindMarksReadsBounded(t *testing.T) {
	const budget = 1024 + 1 // behindRead and the limit
	for _, ms := range managerStores() {
		t.Run(ms.name, func(t *testing.T) {
			start := time.Now().UTC().Truncate(time.Second)
			m, st, clock, _ := subjectReadsManager(t, ms, sessiond.StrategyHybrid, start, func(o *sessiond.Options) {
				o.MaxSessions, o.LimitPolicy = 1, sessiond.LimitReject
			})
			ctx := context.Background()
			clock.Set(start.Add(400 * time.Millisecond))
			for _, subject := range []string{"alice", "carol"} {
				if _, err := m.RevokeMatching(ctx, sessiond.RevokeFilter{Subjects: []string{subject}}, sessiond.ReasonIncident, false); err != nil {
					t.Fatal(err)
				}
			}
			// Another node's login, stored in the watermark's second.
			zombie := func(subject string) *sessiond.Session {
				at := start.Add(700 * time.Millisecond)
				z := sessiondtest.NewSession(subject, at)
				// Ending before carol's other sessions: the oldest by
				// expiry too (Redis's page order).
				z.Strategy, z.ExpiresAt = sessiond.StrategyHybrid, at.Add(30*time.Minute)
				if err := st.Create(ctx, z); err != nil {
					t.Fatal(err)
				}
				return z
			}
			za := zombie("alice")
			clock.Set(start.Add(2 * time.Second))
			st.reset()
			if _, err := m.Create(ctx, "alice", sessiond.CreateOptions{}); err != nil {
				t.Fatalf("alice's login behind a zombie: %v; want the zombie ended and the login stored", err)
			}
			if got, err := st.Get(ctx, za.ID); err != nil || got.RevokeReason != sessiond.ReasonIncident {
				t.Errorf("alice's zombie after the login: %+v, %v; want it stored revoked for the incident", got, err)
			}
			// (Her login's concurrent-login check may read her sessions
			// too, by then: at most concurrentRead, 256.)
			if c := st.of("alice"); c.lists != 0 || c.asked == 0 || c.asked > budget+256 {
				t.Errorf("alice's refused login: %d List calls, %d sessions asked of ListPage; want no List, 1 to %d", c.lists, c.asked, budget+256)
			}

			// carol's zombie lies behind 1,100 newer sessions, all but one
			// past their idle expiry: the read is bounded by the sessions
			// it reads, live or not, not by the live ones it finds. (Not
			// revoked ones: on memory and Redis the refused login's
			// CreateLimited drops the revoked sessions it reads from the
			// subject's index before this check pages through it; no store
			// drops an idle-expired session before it is collected.)
			zc := zombie("carol")
			clock.Set(start.Add(3 * time.Second))
			plant(t, st, "carol", 1100, 0, start.Add(3*time.Second), start.Add(time.Hour), sessiond.Client{},
				func(i int, s *sessiond.Session) {
					if i < 1099 {
						s.IdleExpiresAt = s.CreatedAt.Add(time.Millisecond) // before the login
					}
				})
			st.reset()
			if _, err := m.Create(ctx, "carol", sessiond.CreateOptions{}); !errors.Is(err, sessiond.ErrLimitReached) {
				t.Errorf("carol's login with her zombie out of reach = %v; want ErrLimitReached", err)
			}
			if c := st.of("carol"); c.lists != 0 || c.asked != budget {
				t.Errorf("carol's refused login: %d List calls, %d sessions asked of ListPage; want no List, %d", c.lists, c.asked, budget)
			}
			if got, err := st.Get(ctx, zc.ID); err != nil || got.Revoked() {
				t.Errorf("carol's zombie: %+v, %v; want it stored live (out of reach)", got, err)
			}
		})
	}
}
