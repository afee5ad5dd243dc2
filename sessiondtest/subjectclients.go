package sessiondtest

import (
	"context"
	"maps"
	"testing"
	"time"

	"github.com/sessiond/sessiond"
)

// TestSubjectClientLister checks sessiond.SubjectClientLister (the clients
// Manager.RevokeSubject reads before it revokes), failing at once if
// newStore's stores do not implement it. TestStore runs it when they do.
//
// Beyond the doc comment, the suite pins down that SubjectClients selects
// exactly the sessions List returns, and that a subject is matched as an
// exact string: no pattern (SQL LIKE's % and _, Redis glob's * and ?) and
// no hash tag ({ and }) in it means anything.
func TestSubjectClientLister(t *testing.T, newStore func(t *testing.T) sessiond.Store) {
	runSuite(t, newStore, []subtest[sessiond.SubjectClientLister]{
		{"LiveOnly", subjectClientsLiveOnly},
		{"Empty", subjectClientsEmpty},
		{"ExactSubject", subjectClientsExactSubject},
		{"Copies", subjectClientsCopies},
		{"CanceledContext", subjectClientsCanceled},
	})
}

// subjectClients calls SubjectClients and fails the test on an error or a
// nil map.
func subjectClients(t *testing.T, f *fixture, l sessiond.SubjectClientLister, subject string, now time.Time) map[sessiond.SessionID]sessiond.Client {
	t.Helper()
	got, err := l.SubjectClients(f.ctx, subject, now)
	if err != nil || got == nil {
		t.Fatalf("SubjectClients(%q) = %v (nil: %t), %v; want a map and nil", subject, got, got == nil, err)
	}
	return got
}

// subjectClientsLiveOnly: the clients of the sessions live at now, each
// its own; not those revoked, past either expiry, or of another subject.
// The same sessions as List's.
func subjectClientsLiveOnly(t *testing.T, f *fixture, l sessiond.SubjectClientLister) {
	now := at(10 * time.Minute)
	want := map[sessiond.SessionID]sessiond.Client{}
	for i, c := range []sessiond.Client{
		{IP: "203.0.113.7", UserAgent: "Mozilla/5.0 (X11; Linux x86_64)"},
		{IP: "2001:db8::2", UserAgent: "curl/8.5.0"},
		{}, // a session without a client
	} {
		s := NewSession("alice", t0.Add(time.Duration(i)*time.Minute))
		s.Client = c
		f.create(clone(s), NewToken(sessiond.KindAccess, s.ID, s.CreatedAt))
		want[s.ID] = c
	}
	revoked := NewSession("alice", t0)
	expired := NewSession("alice", t0)
	expired.ExpiresAt = now // not before now: over
	idle := NewSession("alice", t0)
	idle.IdleExpiresAt = now
	for _, s := range []*sessiond.Session{revoked, expired, idle, NewSession("bob", t0)} {
		f.create(clone(s))
	}
	f.revoke(revoked.ID, t0.Add(time.Second), sessiond.ReasonLogout)

	got := subjectClients(t, f, l, "alice", now)
	if !maps.Equal(got, want) {
		t.Errorf("SubjectClients(alice) = %v; want %v (the live sessions, each with its client)", got, want)
	}
	list, err := f.st.List(f.ctx, "alice", now)
	if err != nil {
		t.Fatalf("List(alice) = %v", err)
	}
	if len(list) != len(got) {
		t.Errorf("List(alice) has %d sessions, SubjectClients(alice) %d; want the same sessions", len(list), len(got))
	}
	for _, s := range list {
		if c, ok := got[s.ID]; !ok || c != s.Client {
			t.Errorf("SubjectClients(alice)[%s] = %+v, %t; want %+v, as List has it", s.ID, c, ok, s.Client)
		}
	}
	if got := subjectClients(t, f, l, "alice", at(33*time.Minute)); len(got) != 0 {
		t.Errorf("SubjectClients(alice) after the idle expiry = %v; want none", got)
	}
}

// subjectClientsEmpty: no session, or no such subject, is an empty map,
// for subjects a store may find hard to hold too.
func subjectClientsEmpty(t *testing.T, f *fixture, l sessiond.SubjectClientLister) {
	f.create(NewSession("alice", t0))
	for _, subject := range unknownSubjects {
		if got := subjectClients(t, f, l, subject, t0); len(got) != 0 {
			t.Errorf("SubjectClients(%.40q) = %v; want none", subject, got)
		}
	}
}

// subjectClientsExactSubject: each subject of oddSubjects gets its own
// session and nobody else's.
func subjectClientsExactSubject(t *testing.T, f *fixture, l sessiond.SubjectClientLister) {
	for subject, id := range createOddSubjects(f) {
		got := subjectClients(t, f, l, subject, t0)
		if _, ok := got[id]; len(got) != 1 || !ok {
			t.Errorf("SubjectClients(%q) = %v; want only %s", subject, got, id)
		}
	}
}

// subjectClientsCopies: the map is the caller's; changing it changes
// nothing stored.
func subjectClientsCopies(t *testing.T, f *fixture, l sessiond.SubjectClientLister) {
	s := NewSession("alice", t0)
	f.create(clone(s))
	got := subjectClients(t, f, l, "alice", t0)
	got[s.ID] = sessiond.Client{IP: "198.51.100.1"}
	got["other"] = sessiond.Client{}
	if again := subjectClients(t, f, l, "alice", t0); len(again) != 1 || again[s.ID] != s.Client {
		t.Errorf("SubjectClients(alice) after changing an earlier result = %v; want only %s with %+v", again, s.ID, s.Client)
	}
}

func subjectClientsCanceled(t *testing.T, f *fixture, l sessiond.SubjectClientLister) {
	f.create(NewSession("alice", t0))
	ctx, cancel := context.WithCancel(f.ctx)
	cancel()
	if got, err := l.SubjectClients(ctx, "alice", t0); err == nil {
		t.Errorf("SubjectClients(canceled context) = %v, nil; want an error", got)
	}
}
