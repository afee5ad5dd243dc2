package sessiond_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/memstore"
	"github.com/sessiond/sessiond/opaquetoken"
	"github.com/sessiond/sessiond/sessiondtest"
)

// listCounter is a memstore that counts its List calls.
type listCounter struct {
	*memstore.Store
	lists atomic.Int32
}

func (s *listCounter) List(ctx context.Context, subject string, now time.Time) ([]*sessiond.Session, error) {
	s.lists.Add(1)
	return s.Store.List(ctx, subject, now)
}

// baseOnly hides every optional interface of its store but the event log:
// a store with the twelve methods of sessiond.Store alone.
type baseOnly struct {
	sessiond.Store
	sessiond.EventLog
}

// TestManager_RevokeSubjectReadsOnlyClients: RevokeSubject reads the
// clients of the subject's sessions through SubjectClientLister when the
// store has it, not with List (every session in full, claims included, at
// once: a heap peak of 600 MB for 100,000 sessions with 4 KB of claims on
// SQLite, one script of seconds on Redis); a store without it is read with
// List as before. Either way each session.revoked event names its
// session's client.
func TestManager_RevokeSubjectReadsOnlyClients(t *testing.T) {
	for _, tc := range []struct {
		name      string
		wrap      func(*listCounter) sessiond.Store
		wantLists int32
	}{
		{"Lister", func(s *listCounter) sessiond.Store { return s }, 0},
		{"ListOnly", func(s *listCounter) sessiond.Store { return baseOnly{s, s} }, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := &listCounter{Store: memstore.New()}
			events := &sessiondtest.Events{}
			clock := sessiondtest.NewClock(t0)
			m := newManager(t, sessiond.Options{
				Strategy: sessiond.StrategyDatabase, Store: tc.wrap(st), Opaque: opaquetoken.Codec{},
				Clock: clock, Events: events, GCInterval: -1,
			}, nil)
			ctx := context.Background()
			want := map[sessiond.SessionID]sessiond.Client{}
			for _, cl := range []sessiond.Client{{IP: "203.0.113.7", UserAgent: "a"}, {IP: "2001:db8::2", UserAgent: "b"}} {
				iss, err := m.Create(ctx, "erin", sessiond.CreateOptions{Client: cl, Claims: []byte(`{"big":"claims"}`)})
				if err != nil {
					t.Fatal(err)
				}
				want[iss.Session.ID] = cl
				clock.Advance(time.Second) // the second login is the later one, and its check reports the first
			}
			// Each login queues a concurrent-login check, which reads the
			// subject (with List on a store without SubjectPager) on the
			// Manager's own goroutine, in order: the second login's event
			// (it is the later one) says both checks are done, so none of
			// their reads is counted below as RevokeSubject's.
			wait, cancel := context.WithTimeout(ctx, 10*time.Second)
			defer cancel()
			if _, err := events.Await(wait, sessiond.EventConcurrentLogin, 1); err != nil {
				t.Fatalf("the second login's concurrent-login check: %v", err)
			}
			st.lists.Store(0)
			if n, err := m.RevokeSubject(ctx, "erin", "", sessiond.ReasonAdmin); err != nil || n != len(want) {
				t.Fatalf("RevokeSubject = %d, %v; want %d", n, err, len(want))
			}
			if got := st.lists.Load(); got != tc.wantLists {
				t.Errorf("RevokeSubject called List %d times; want %d", got, tc.wantLists)
			}
			seen := 0
			for _, e := range events.All() {
				if e.Type != sessiond.EventSessionRevoked {
					continue
				}
				seen++
				if w, ok := want[e.SessionID]; !ok || e.Client != w {
					t.Errorf("session.revoked of %s: client %+v; want %+v (the session's)", e.SessionID, e.Client, w)
				}
			}
			if seen != len(want) {
				t.Errorf("%d session.revoked events; want %d", seen, len(want))
			}
		})
	}
}
