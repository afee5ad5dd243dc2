package sessiondtest

import (
	"fmt"
	"testing"
	"time"

	"github.com/sessiond/sessiond"
)

// revokeWay is one way a store revokes a session: the base Revoke and
// RevokeSubject, and those of the optional interfaces, which the Manager
// uses in their place when a store has them (a single revocation goes
// through RevokeRecorded on a ChangeRecorder, a subject's through
// RevokeSubjectBatch on a SubjectBatchRevoker…). Whichever way a session
// is revoked, the revocation must reach the log Revocations reads, from
// which every node rebuilds its revoked set, and the feed that tells the
// other nodes at once; a way that misses either leaves the session's
// signed access tokens verifying on the other nodes.
type revokeWay struct {
	name string
	// feed: the revocation is delivered on a RevocationNotifier's feed
	// (the kill switch reaches the other nodes by its watermarks instead).
	feed bool
	// revoke revokes s, the only session of its subject, at `at`, and
	// returns the revocation; false when the store lacks this way.
	revoke func(f *fixture, s *sessiond.Session, at time.Time) (sessiond.Revocation, bool)
}

var revokeWays = []revokeWay{
	{"Revoke", true, func(f *fixture, s *sessiond.Session, at time.Time) (sessiond.Revocation, bool) {
		f.revoke(s.ID, at, sessiond.ReasonLogout)
		return revocation(s, at, sessiond.ReasonLogout), true
	}},
	{"RevokeSubject", true, func(f *fixture, s *sessiond.Session, at time.Time) (sessiond.Revocation, bool) {
		revs, err := f.st.RevokeSubject(f.ctx, s.Subject, "", at, sessiond.ReasonAdmin)
		f.wantRevoked("RevokeSubject", revs, err)
		return revocation(s, at, sessiond.ReasonAdmin), true
	}},
	{"CreateLimited", true, func(f *fixture, s *sessiond.Session, at time.Time) (sessiond.Revocation, bool) {
		l, ok := f.st.(sessiond.Limiter)
		if !ok {
			return sessiond.Revocation{}, false
		}
		revs, err := l.CreateLimited(f.ctx, NewSession(s.Subject, at), 1, true)
		f.wantRevoked("CreateLimited", revs, err)
		return revocation(s, at, sessiond.ReasonLimit), true
	}},
	{"RevokeRecorded", true, func(f *fixture, s *sessiond.Session, at time.Time) (sessiond.Revocation, bool) {
		r, ok := recorderOf[sessiond.ChangeRecorder](f.st)
		if !ok {
			return sessiond.Revocation{}, false
		}
		if _, recorded, err := r.RevokeRecorded(f.ctx, s.ID, at, sessiond.ReasonLogout, nil); err != nil || !recorded {
			f.t.Fatalf("RevokeRecorded(%s) = %t, %v; want recorded, nil", s.ID, recorded, err)
		}
		return revocation(s, at, sessiond.ReasonLogout), true
	}},
	{"CreateRecorded", true, func(f *fixture, s *sessiond.Session, at time.Time) (sessiond.Revocation, bool) {
		r, ok := recorderOf[sessiond.ChangeRecorder](f.st)
		if !ok {
			return sessiond.Revocation{}, false
		}
		revs, err := r.CreateRecorded(f.ctx, NewSession(s.Subject, at), 1, true, sessiond.ChangeRecords{}, nil)
		f.wantRevoked("CreateRecorded", revs, err)
		return revocation(s, at, sessiond.ReasonLimit), true
	}},
	{"RevokeSubjectRecorded", true, func(f *fixture, s *sessiond.Session, at time.Time) (sessiond.Revocation, bool) {
		r, ok := recorderOf[sessiond.SubjectChangeRecorder](f.st)
		if !ok {
			return sessiond.Revocation{}, false
		}
		revs, err := r.RevokeSubjectRecorded(f.ctx, s.Subject, "", at, sessiond.ReasonAdmin,
			func([]sessiond.Revocation) sessiond.ChangeRecords { return sessiond.ChangeRecords{} })
		f.wantRevoked("RevokeSubjectRecorded", revs, err)
		return revocation(s, at, sessiond.ReasonAdmin), true
	}},
	{"RevokeSubjectBatch", true, func(f *fixture, s *sessiond.Session, at time.Time) (sessiond.Revocation, bool) {
		b, ok := f.st.(sessiond.SubjectBatchRevoker)
		if !ok {
			return sessiond.Revocation{}, false
		}
		revs, _, _, err := b.RevokeSubjectBatch(f.ctx, s.Subject, "", at, sessiond.ReasonAdmin, "", 128, nil)
		f.wantRevoked("RevokeSubjectBatch", revs, err)
		return revocation(s, at, sessiond.ReasonAdmin), true
	}},
	{"RevokeMatching", false, func(f *fixture, s *sessiond.Session, at time.Time) (sessiond.Revocation, bool) {
		b, ok := f.st.(sessiond.BulkRevoker)
		if !ok {
			return sessiond.Revocation{}, false
		}
		if n, _, err := b.RevokeMatching(f.ctx, sessiond.RevokeFilter{Subjects: []string{s.Subject}}, at, sessiond.ReasonIncident); err != nil || n != 1 {
			f.t.Fatalf("RevokeMatching(subject %q) = %d, %v; want 1, nil", s.Subject, n, err)
		}
		return revocation(s, at, sessiond.ReasonIncident), true
	}},
}

// recorderOf returns st as R when st writes a change's records with it
// (WritesChangeEvents), as the Manager finds it.
func recorderOf[R sessiond.ChangeEventWriter](st sessiond.Store) (R, bool) {
	r, ok := st.(R)
	return r, ok && r.WritesChangeEvents()
}

// wantRevoked fails the test unless a revocation that must revoke one
// session did.
func (f *fixture) wantRevoked(op string, revs []sessiond.Revocation, err error) {
	f.t.Helper()
	if err != nil || len(revs) != 1 {
		f.t.Fatalf("%s = %d revoked, %v; want 1, nil", op, len(revs), err)
	}
}

// revokeEveryWay revokes one session, of a subject of its own, each way
// the store offers (those of the feed only, with feed), all of them live
// at since (long-lived and created before it), one minute apart from since
// on, and returns what each way revoked, by way. after, unless nil, runs
// after each.
func revokeEveryWay(f *fixture, since time.Time, feed bool, after func(way string, r sessiond.Revocation)) map[string]sessiond.Revocation {
	f.t.Helper()
	out := make(map[string]sessiond.Revocation)
	for i, w := range revokeWays {
		if feed && !w.feed {
			continue
		}
		s := longSession(fmt.Sprintf("way-%d", i), t0)
		f.create(clone(s), NewToken(sessiond.KindRefresh, s.ID, t0))
		if r, ok := w.revoke(f, s, since.Add(time.Duration(i)*time.Minute)); ok {
			out[w.name] = r
			if after != nil {
				after(w.name, r)
			}
		}
	}
	return out
}

// testRevocationsEveryWay: Revocations returns a revocation whichever way
// the store made it.
func testRevocationsEveryWay(t *testing.T, newStore func(t *testing.T) sessiond.Store) {
	f := setup(t, newStore)
	since := at(time.Hour)
	made := revokeEveryWay(f, since, false, nil)
	got, err := f.st.Revocations(f.ctx, since)
	if err != nil {
		t.Fatalf("Revocations(%v) = %v; want nil", since, err)
	}
	for way, want := range made {
		checkRevocations(t, "Revocations after "+way, filterRevocations(got, want.SessionID), []sessiond.Revocation{want})
	}
	if p, ok := f.st.(sessiond.RevocationPager); ok {
		page, err := p.PageRevocations(f.ctx, sessiond.RevocationQuery{Since: since, Limit: sessiond.MaxPageLimit})
		if err != nil {
			t.Fatalf("PageRevocations(%v) = %v; want nil", since, err)
		}
		for way, want := range made {
			checkRevocations(t, "PageRevocations after "+way, filterRevocations(page.Revocations, want.SessionID), []sessiond.Revocation{want})
		}
	}
}

// filterRevocations returns the revocations of session id among revs.
func filterRevocations(revs []sessiond.Revocation, id sessiond.SessionID) []sessiond.Revocation {
	var out []sessiond.Revocation
	for _, r := range revs {
		if r.SessionID == id {
			out = append(out, r)
		}
	}
	return out
}

// feedEveryWay: the feed delivers a revocation whichever way the store
// made it (the Manager revokes through the recorders and the batches when
// the store has them, not through Revoke and RevokeSubject).
func feedEveryWay(t *testing.T, f *fixture, join func(*testing.T, sessiond.Store) sessiond.Store) {
	l := listen(f, join(t, f.st))
	revokeEveryWay(f, at(time.Hour), true, func(way string, r sessiond.Revocation) { l.expect(way, r) })
}
