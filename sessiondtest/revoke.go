package sessiondtest

import (
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/sessiond/sessiond"
)

func testRevoke(t *testing.T, newStore func(t *testing.T) sessiond.Store) {
	t.Run("SetsRevoked", func(t *testing.T) {
		f := setup(t, newStore)
		s := NewSession("alice", t0)
		f.create(clone(s))
		got := f.revoke(s.ID, at(time.Minute), sessiond.ReasonLogout)
		s.RevokedAt, s.RevokeReason = at(time.Minute), sessiond.ReasonLogout
		checkSession(t, "Revoke()", got, s)
		f.wantSession(s)
	})
	t.Run("Idempotent", func(t *testing.T) {
		f := setup(t, newStore)
		s := NewSession("alice", t0)
		f.create(clone(s))
		f.revoke(s.ID, at(time.Minute), sessiond.ReasonLogout)
		got, err := f.st.Revoke(f.ctx, s.ID, at(time.Hour), sessiond.ReasonIncident)
		if err != nil {
			t.Fatalf("second Revoke(%s) = %v; want nil", s.ID, err)
		}
		s.RevokedAt, s.RevokeReason = at(time.Minute), sessiond.ReasonLogout
		checkSession(t, "second Revoke()", got, s)
		f.wantSession(s)
	})
	// A session past an expiry is revoked like any other: a hybrid
	// session's access tokens verify without the store up to their own
	// expiry, whatever its idle expiry, so a logout after the idle
	// timeout must still reach the revoked set. A store that revokes only
	// live sessions (an UPDATE … WHERE the expiries are ahead) answers
	// "not found", and the Manager reports an unknown session.
	for _, tc := range []struct {
		name string
		edit func(s *sessiond.Session)
	}{
		{"PastIdleExpiry", func(s *sessiond.Session) { s.IdleExpiresAt = at(time.Minute) }},
		{"PastAbsoluteExpiry", func(s *sessiond.Session) { s.ExpiresAt, s.IdleExpiresAt = at(time.Minute), at(time.Minute) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := setup(t, newStore)
			s := NewSession("alice", t0)
			tc.edit(s)
			f.create(clone(s))
			revokedAt := at(2 * time.Minute)
			got, err := f.st.Revoke(f.ctx, s.ID, revokedAt, sessiond.ReasonLogout)
			if err != nil {
				t.Fatalf("Revoke(%s) = %v; want nil", tc.name, err)
			}
			s.RevokedAt, s.RevokeReason = revokedAt, sessiond.ReasonLogout
			checkSession(t, "Revoke("+tc.name+")", got, s)
			f.wantSession(s)
			revs, err := f.st.Revocations(f.ctx, t0)
			if err != nil {
				t.Fatalf("Revocations(%v) = %v; want nil", t0, err)
			}
			checkRevocations(t, fmt.Sprintf("Revocations(%v) after Revoke(%s)", t0, tc.name), revs,
				[]sessiond.Revocation{revocation(s, revokedAt, sessiond.ReasonLogout)})
		})
	}
	t.Run("Unknown", func(t *testing.T) {
		f := setup(t, newStore)
		f.create(NewSession("alice", t0))
		got, err := f.st.Revoke(f.ctx, sessiond.NewSessionID(), at(time.Minute), sessiond.ReasonAdmin)
		if !errors.Is(err, sessiond.ErrNotFound) {
			t.Errorf("Revoke(unknown) = %v, %v; want ErrNotFound", got, err)
		}
	})
	t.Run("OnlyThatSession", func(t *testing.T) {
		f := setup(t, newStore)
		s, other := NewSession("alice", t0), NewSession("alice", t0)
		f.create(clone(s))
		f.create(clone(other))
		f.revoke(s.ID, at(time.Minute), sessiond.ReasonLogout)
		f.wantSession(other)
	})
	t.Run("LookupAndList", func(t *testing.T) {
		f := setup(t, newStore)
		s, other := NewSession("alice", t0), NewSession("alice", t0.Add(time.Second))
		tok := NewToken(sessiond.KindAccess, s.ID, t0)
		f.create(clone(s), tok)
		f.create(clone(other))
		f.revoke(s.ID, at(time.Minute), sessiond.ReasonLogout)
		// Lookup still finds the token, so the caller can answer ErrRevoked.
		if got := f.wantToken(tok); !got.Revoked() {
			t.Errorf("Lookup(token of revoked session) session RevokedAt = %v; want %v", got.RevokedAt, at(time.Minute))
		}
		list, err := f.st.List(f.ctx, "alice", at(2*time.Minute))
		if err != nil {
			t.Fatalf("List(alice) = %v; want nil", err)
		}
		if got, want := ids(list), []sessiond.SessionID{other.ID}; !slices.Equal(got, want) {
			t.Errorf("List(alice) after revoke = %v; want %v", got, want)
		}
	})
}

func testRevokeSubject(t *testing.T, newStore func(t *testing.T) sessiond.Store) {
	// subject creates, for alice: two live sessions, one revoked earlier,
	// one past its absolute and one past its idle expiry; for bob: one live.
	type world struct {
		live1, live2, revoked, expired, idle, bob *sessiond.Session
	}
	populate := func(f *fixture) world {
		w := world{
			live1:   NewSession("alice", t0),
			live2:   NewSession("alice", t0.Add(time.Minute)),
			revoked: NewSession("alice", t0),
			expired: NewSession("alice", t0.Add(-9*time.Hour)),
			idle:    NewSession("alice", t0.Add(-time.Hour)),
			bob:     NewSession("bob", t0),
		}
		w.expired.IdleExpiresAt = w.expired.ExpiresAt
		w.idle.IdleExpiresAt = t0.Add(-time.Minute)
		for _, s := range []*sessiond.Session{w.live1, w.live2, w.revoked, w.expired, w.idle, w.bob} {
			f.create(clone(s), NewToken(sessiond.KindRefresh, s.ID, s.CreatedAt))
		}
		f.revoke(w.revoked.ID, t0.Add(time.Second), sessiond.ReasonLogout)
		w.revoked.RevokedAt, w.revoked.RevokeReason = t0.Add(time.Second), sessiond.ReasonLogout
		return w
	}
	now := at(10 * time.Minute)

	t.Run("All", func(t *testing.T) {
		f := setup(t, newStore)
		w := populate(f)
		got, err := f.st.RevokeSubject(f.ctx, "alice", "", now, sessiond.ReasonIncident)
		if err != nil {
			t.Fatalf("RevokeSubject(alice) = %v; want nil", err)
		}
		checkRevocations(t, "RevokeSubject(alice)", got, []sessiond.Revocation{
			revocation(w.live1, now, sessiond.ReasonIncident),
			revocation(w.live2, now, sessiond.ReasonIncident),
		})
		for _, s := range []*sessiond.Session{w.live1, w.live2} {
			s.RevokedAt, s.RevokeReason = now, sessiond.ReasonIncident
		}
		for _, s := range []*sessiond.Session{w.live1, w.live2, w.revoked, w.expired, w.idle, w.bob} {
			f.wantSession(s)
		}
	})
	t.Run("Except", func(t *testing.T) {
		f := setup(t, newStore)
		w := populate(f)
		got, err := f.st.RevokeSubject(f.ctx, "alice", w.live2.ID, now, sessiond.ReasonRotated)
		if err != nil {
			t.Fatalf("RevokeSubject(alice, except %s) = %v; want nil", w.live2.ID, err)
		}
		checkRevocations(t, "RevokeSubject(alice, except)", got, []sessiond.Revocation{
			revocation(w.live1, now, sessiond.ReasonRotated),
		})
		w.live1.RevokedAt, w.live1.RevokeReason = now, sessiond.ReasonRotated
		for _, s := range []*sessiond.Session{w.live1, w.live2, w.revoked, w.bob} {
			f.wantSession(s)
		}
	})
	t.Run("Again", func(t *testing.T) {
		f := setup(t, newStore)
		populate(f)
		if _, err := f.st.RevokeSubject(f.ctx, "alice", "", now, sessiond.ReasonIncident); err != nil {
			t.Fatalf("RevokeSubject(alice) = %v; want nil", err)
		}
		got, err := f.st.RevokeSubject(f.ctx, "alice", "", now.Add(time.Minute), sessiond.ReasonAdmin)
		if err != nil {
			t.Fatalf("second RevokeSubject(alice) = %v; want nil", err)
		}
		checkRevocations(t, "second RevokeSubject(alice)", got, nil)
	})
	t.Run("ExactSubject", func(t *testing.T) {
		// Each subject revokes its own session only: not one that differs
		// in case (a case-insensitive collation), nor one its characters
		// match as a pattern (LIKE, a Redis glob), nor one it is a prefix of.
		f := setup(t, newStore)
		for subject, id := range createOddSubjects(f) {
			got, err := f.st.RevokeSubject(f.ctx, subject, "", now, sessiond.ReasonAdmin)
			if err != nil || len(got) != 1 || got[0].SessionID != id {
				t.Errorf("RevokeSubject(%q) = %v, %v; want only %s", subject, revokedIDs(got), err, id)
			}
		}
	})
	t.Run("UnknownSubject", func(t *testing.T) {
		f := setup(t, newStore)
		w := populate(f)
		got, err := f.st.RevokeSubject(f.ctx, "nobody", "", now, sessiond.ReasonAdmin)
		if err != nil {
			t.Fatalf("RevokeSubject(nobody) = %v; want nil", err)
		}
		checkRevocations(t, "RevokeSubject(nobody)", got, nil)
		f.wantSession(w.live1)
	})
}

func testRevocations(t *testing.T, newStore func(t *testing.T) sessiond.Store) {
	t.Run("Since", func(t *testing.T) {
		f := setup(t, newStore)
		since := at(time.Hour)
		type c struct {
			s         *sessiond.Session
			revokedAt time.Time // zero: not revoked
			want      bool
		}
		mk := func(expires time.Time) *sessiond.Session {
			s := NewSession("alice", t0)
			s.ExpiresAt = expires
			s.IdleExpiresAt = expires
			return s
		}
		cases := []c{
			{mk(at(8 * time.Hour)), since.Add(-time.Microsecond), false},    // revoked before since
			{mk(at(8 * time.Hour)), since, true},                            // at since
			{mk(at(8 * time.Hour)), since.Add(time.Minute), true},           // after since
			{mk(since.Add(time.Microsecond)), since.Add(time.Second), true}, // expires just after since
			{mk(since), since.Add(time.Second), false},                      // expired at since
			{mk(at(8 * time.Hour)), time.Time{}, false},                     // not revoked
		}
		var want []sessiond.Revocation
		for i, c := range cases {
			f.create(clone(c.s))
			if c.revokedAt.IsZero() {
				continue
			}
			reason := []sessiond.RevokeReason{sessiond.ReasonLogout, sessiond.ReasonAdmin, sessiond.ReasonReuse}[i%3]
			f.revoke(c.s.ID, c.revokedAt, reason)
			if c.want {
				want = append(want, revocation(c.s, c.revokedAt, reason))
			}
		}
		got, err := f.st.Revocations(f.ctx, since)
		if err != nil {
			t.Fatalf("Revocations(%v) = %v; want nil", since, err)
		}
		checkRevocations(t, fmt.Sprintf("Revocations(%v)", since), got, want)
	})
	t.Run("EveryWayOfRevoking", func(t *testing.T) { testRevocationsEveryWay(t, newStore) })
	t.Run("CreatedRevoked", func(t *testing.T) {
		// A session stored already revoked (an import, a migration, a
		// Create racing a revocation that the Manager stores revoked) is
		// a revocation like any other: verifiers fed from Revocations must
		// learn it, or its tokens verify where the revocation stream is
		// the only news.
		f := setup(t, newStore)
		s := NewSession("alice", t0)
		s.RevokedAt, s.RevokeReason = at(time.Minute), sessiond.ReasonIncident
		f.create(clone(s), NewToken(sessiond.KindAccess, s.ID, t0))
		f.wantSession(s)
		got, err := f.st.Revocations(f.ctx, t0)
		if err != nil {
			t.Fatalf("Revocations(%v) = %v; want nil", t0, err)
		}
		checkRevocations(t, fmt.Sprintf("Revocations(%v) after Create(revoked)", t0), got,
			[]sessiond.Revocation{revocation(s, at(time.Minute), sessiond.ReasonIncident)})
	})
	t.Run("None", func(t *testing.T) {
		f := setup(t, newStore)
		f.create(NewSession("alice", t0))
		got, err := f.st.Revocations(f.ctx, t0)
		if err != nil || len(got) != 0 {
			t.Errorf("Revocations() = %v, %v; want none and nil", got, err)
		}
	})
}

func revokedIDs(revs []sessiond.Revocation) []sessiond.SessionID {
	out := make([]sessiond.SessionID, len(revs))
	for i, r := range revs {
		out[i] = r.SessionID
	}
	return out
}
