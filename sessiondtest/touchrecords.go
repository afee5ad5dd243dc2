package sessiondtest

import (
	"testing"
	"time"

	"github.com/sessiond/sessiond"
)

// touchRecordStore is what TestTouchRecorder needs: a store that writes
// the records of a session's activity with it, and lets them be read back.
type touchRecordStore interface {
	changeEventStore
	sessiond.TouchRecorder
}

// TestTouchRecorder checks a sessiond.TouchRecorder: the events and
// webhook deliveries of a session's activity (a refresh that keeps its
// refresh token) are stored when, and only when, the activity is; on a
// revoked or unknown session, or with records the store refuses, nothing
// at all changes.
func TestTouchRecorder(t *testing.T, newStore func(t *testing.T) sessiond.Store) {
	runSuite(t, newStore, []subtest[touchRecordStore]{
		{"WritesActivityAndRecords", recordTouchWrites},
		{"BehindKeepsLaterActivity", recordTouchBehind},
		{"RevokedWritesNothing", recordTouchRevokedWritesNothing},
		{"UnknownWritesNothing", recordTouchUnknownWritesNothing},
		{"BadRecordsChangeNothing", recordTouchBadChangesNothing},
	})
}

func recordTouchWrites(t *testing.T, f *fixture, st touchRecordStore) {
	s, other := NewSession("alice", t0), NewSession("alice", t0)
	f.create(clone(s))
	f.create(clone(other))
	last, idle := at(10*time.Minute), at(40*time.Minute)
	rec := records(sessiond.EventSessionRefreshed, s, last)
	if err := st.TouchRecorded(f.ctx, s.ID, last, idle, rec); err != nil {
		t.Fatalf("TouchRecorded = %v; want nil", err)
	}
	s.LastActiveAt, s.IdleExpiresAt = last, idle
	f.wantSession(s)
	f.wantSession(other)
	wantRecords(t, f, st, "TouchRecorded", s.ID, rec)
	if events, _ := carried(t, f, st, other.ID); len(events) != 0 {
		t.Errorf("TouchRecorded stored %d events of another session; want none", len(events))
	}
}

// recordTouchBehind: activity recorded by a node whose clock is behind
// the one that touched the session last stores its records, and leaves
// the later activity in place.
func recordTouchBehind(t *testing.T, f *fixture, st touchRecordStore) {
	s := NewSession("alice", t0)
	f.create(clone(s))
	last, idle := at(10*time.Minute), at(40*time.Minute)
	if err := st.Touch(f.ctx, s.ID, last.Add(10*time.Second), idle.Add(10*time.Second)); err != nil {
		t.Fatalf("Touch = %v; want nil", err)
	}
	rec := records(sessiond.EventSessionRefreshed, s, last)
	if err := st.TouchRecorded(f.ctx, s.ID, last, idle, rec); err != nil {
		t.Fatalf("TouchRecorded(10s behind) = %v; want nil", err)
	}
	s.LastActiveAt, s.IdleExpiresAt = last.Add(10*time.Second), idle.Add(10*time.Second)
	f.wantSession(s)
	wantRecords(t, f, st, "TouchRecorded", s.ID, rec)
	if lc, ok := st.(sessiond.LiveCounter); ok {
		if got, err := lc.CountLive(f.ctx, idle.Add(5*time.Second)); err != nil || got[s.Strategy] != 1 {
			t.Errorf("CountLive(before the later idle expiry) = %v, %v; want %s 1", got, err, s.Strategy)
		}
	}
}

func recordTouchRevokedWritesNothing(t *testing.T, f *fixture, st touchRecordStore) {
	s := NewSession("alice", t0)
	f.create(clone(s))
	f.revoke(s.ID, at(time.Minute), sessiond.ReasonAdmin)
	err := st.TouchRecorded(f.ctx, s.ID, at(2*time.Minute), at(time.Hour), records(sessiond.EventSessionRefreshed, s, at(2*time.Minute)))
	wantErr(t, "TouchRecorded(revoked)", err, sessiond.ErrRevoked)
	s.RevokedAt, s.RevokeReason = at(time.Minute), sessiond.ReasonAdmin
	f.wantSession(s) // still revoked, activity not recorded
	wantNoRecords(t, f, st, "revoked session", s.ID)
}

func recordTouchUnknownWritesNothing(t *testing.T, f *fixture, st touchRecordStore) {
	f.create(NewSession("alice", t0))
	s := NewSession("alice", t0) // never stored
	err := st.TouchRecorded(f.ctx, s.ID, at(time.Minute), at(time.Hour), records(sessiond.EventSessionRefreshed, s, at(time.Minute)))
	wantErr(t, "TouchRecorded(unknown)", err, sessiond.ErrNotFound)
	f.wantGone(s.ID)
	wantNoRecords(t, f, st, "unknown session", s.ID)
}

func recordTouchBadChangesNothing(t *testing.T, f *fixture, st touchRecordStore) {
	for _, tc := range badRecords {
		s := NewSession("alice", t0)
		f.create(clone(s))
		rec := records(sessiond.EventSessionRefreshed, s, at(time.Minute))
		tc.edit(&rec)
		err := st.TouchRecorded(f.ctx, s.ID, at(time.Minute), at(time.Hour), rec)
		wantErr(t, tc.name+": TouchRecorded", err, sessiond.ErrInvalidArgument)
		f.wantSession(s) // activity not recorded
		wantNoRecords(t, f, st, tc.name, s.ID)
	}
}
