package sessiondtest

import (
	"testing"
	"time"

	"github.com/sessiond/sessiond"
)

// subjectRecordStore is what TestSubjectChangeRecorder needs: a store that
// writes the records of a subject's bulk revocation with it, and lets them
// be read back.
type subjectRecordStore interface {
	changeEventStore
	sessiond.SubjectChangeRecorder
}

// TestSubjectChangeRecorder checks a sessiond.SubjectChangeRecorder: the
// events and webhook deliveries of a subject's bulk revocation are stored
// when, and only when, it revokes something; records the store refuses
// change nothing at all.
func TestSubjectChangeRecorder(t *testing.T, newStore func(t *testing.T) sessiond.Store) {
	runSuite(t, newStore, []subtest[subjectRecordStore]{
		{"RevokeSubjectWritesRecords", recordSubjectWrites},
		{"NoLiveSessionWritesNothing", recordSubjectNoneWritesNothing},
		{"BadRecordsChangeNothing", recordSubjectBadChangesNothing},
	})
}

// subjectRecords returns the records of a bulk revocation of revs at tm:
// one session.revoked per revocation and the bulk event, each with one
// delivery.
func subjectRecords(subject string, revs []sessiond.Revocation, tm time.Time) sessiond.ChangeRecords {
	var out sessiond.ChangeRecords
	add := func(e sessiond.Event) {
		d := newDelivery(tm)
		d.EventID = e.ID
		out.Events = append(out.Events, e)
		out.Deliveries = append(out.Deliveries, d)
	}
	for _, r := range revs {
		add(newEvent(sessiond.EventSessionRevoked, r.Subject, r.SessionID, tm))
	}
	add(newEvent(sessiond.EventBulkRevoked, subject, "", tm))
	return out
}

// subjectSessions creates, for alice, three live sessions (oldest first), a
// fourth kept as the except, one already revoked and one expired, and a
// live session of bob.
func subjectSessions(f *fixture) (live []*sessiond.Session, except, revoked, expired, other *sessiond.Session) {
	for i := range 3 {
		s := NewSession("alice", at(time.Duration(i)*time.Minute))
		f.create(clone(s))
		live = append(live, s)
	}
	except = NewSession("alice", t0)
	f.create(clone(except))
	revoked = NewSession("alice", t0)
	revoked.RevokedAt, revoked.RevokeReason = at(time.Minute), sessiond.ReasonLogout
	f.create(clone(revoked))
	expired = NewSession("alice", t0)
	expired.ExpiresAt = at(2 * time.Minute)
	expired.IdleExpiresAt = expired.ExpiresAt
	f.create(clone(expired))
	other = NewSession("bob", t0)
	f.create(clone(other))
	return live, except, revoked, expired, other
}

func recordSubjectWrites(t *testing.T, f *fixture, st subjectRecordStore) {
	live, except, revoked, expired, other := subjectSessions(f)
	when := at(10 * time.Minute)
	var (
		rec   sessiond.ChangeRecords
		calls int
		seen  []sessiond.Revocation
	)
	revs, err := st.RevokeSubjectRecorded(f.ctx, "alice", except.ID, when, sessiond.ReasonAdmin,
		func(revs []sessiond.Revocation) sessiond.ChangeRecords {
			calls++
			seen = append([]sessiond.Revocation(nil), revs...)
			rec = subjectRecords("alice", revs, when)
			return rec
		})
	if err != nil {
		t.Fatalf("RevokeSubjectRecorded = %v", err)
	}
	if calls == 0 {
		t.Fatal("revoked was never called")
	}
	if len(revs) != len(live) {
		t.Fatalf("revoked %d sessions; want %d", len(revs), len(live))
	}
	for i, s := range live {
		r := revs[i]
		if r.SessionID != s.ID || r.Subject != "alice" || !r.RevokedAt.Equal(when) || r.Reason != sessiond.ReasonAdmin ||
			!r.ExpiresAt.Equal(s.ExpiresAt) {
			t.Errorf("revocation %d = %+v; want session %s revoked at %v for admin", i, r, s.ID, when)
		}
		if i < len(seen) && seen[i].SessionID != r.SessionID {
			t.Errorf("revoked saw session %s at %d; the call returned %s", seen[i].SessionID, i, r.SessionID)
		}
		want := clone(s)
		want.RevokedAt, want.RevokeReason = when, sessiond.ReasonAdmin
		f.wantSession(want)
		wantRecords(t, f, st, "revoked session", s.ID, sessiond.ChangeRecords{
			Events: rec.Events[i : i+1], Deliveries: rec.Deliveries[i : i+1]})
	}
	if len(seen) != len(revs) {
		t.Errorf("revoked saw %d revocations; the call returned %d", len(seen), len(revs))
	}
	// The bulk event and its delivery.
	bulk := rec.Events[len(rec.Events)-1]
	events, _, err := st.QueryEvents(f.ctx, sessiond.EventQuery{Subject: "alice", Type: sessiond.EventBulkRevoked})
	if err != nil || len(events) != 1 {
		t.Fatalf("bulk events = %v, %v; want the one written", events, err)
	}
	bulk.Details = jsonDetails(t, bulk.Details)
	checkEvent(t, "bulk event", events[0], bulk)
	ds, err := st.ListDeliveries(f.ctx, sessiond.DeliveryPending, 100)
	if err != nil || len(ds) != len(rec.Deliveries) {
		t.Fatalf("pending deliveries = %v, %v; want the %d written", deliveryIDs(ds), err, len(rec.Deliveries))
	}
	// What the call left alone it recorded nothing for.
	f.wantSession(except)
	f.wantSession(revoked)
	f.wantSession(expired)
	f.wantSession(other)
	for _, s := range []*sessiond.Session{except, revoked, expired, other} {
		if events, _, err := st.QueryEvents(f.ctx, sessiond.EventQuery{SessionID: s.ID}); err != nil || len(events) != 0 {
			t.Errorf("session %s left alone has events %v, %v", s.ID, events, err)
		}
	}
}

func recordSubjectNoneWritesNothing(t *testing.T, f *fixture, st subjectRecordStore) {
	_, except, revoked, expired, _ := subjectSessions(f)
	when := at(10 * time.Minute)
	// Revoke alice's three live sessions first, without records.
	if _, err := st.RevokeSubject(f.ctx, "alice", except.ID, when, sessiond.ReasonAdmin); err != nil {
		t.Fatalf("RevokeSubject = %v", err)
	}
	for _, subject := range []string{"alice", "nobody"} {
		revs, err := st.RevokeSubjectRecorded(f.ctx, subject, except.ID, at(11*time.Minute), sessiond.ReasonAdmin,
			func(revs []sessiond.Revocation) sessiond.ChangeRecords {
				t.Errorf("%s: revoked(%v) called with no live session to revoke", subject, revs)
				return subjectRecords(subject, revs, at(11*time.Minute))
			})
		if err != nil || len(revs) != 0 {
			t.Errorf("%s: RevokeSubjectRecorded = %v, %v; want none, nil", subject, revs, err)
		}
	}
	f.wantSession(except)
	f.wantSession(revoked)
	f.wantSession(expired)
	events, _, err := st.QueryEvents(f.ctx, sessiond.EventQuery{Subject: "alice"})
	if err != nil || len(events) != 0 {
		t.Errorf("events = %v, %v; want none", events, err)
	}
	if ds, err := st.ListDeliveries(f.ctx, sessiond.DeliveryPending, 100); err != nil || len(ds) != 0 {
		t.Errorf("pending deliveries = %v, %v; want none", deliveryIDs(ds), err)
	}
}

func recordSubjectBadChangesNothing(t *testing.T, f *fixture, st subjectRecordStore) {
	for _, tc := range []struct {
		name string
		edit func(rec *sessiond.ChangeRecords)
	}{
		{"EventWithoutID", func(rec *sessiond.ChangeRecords) { rec.Events[1].ID = "" }},
		{"BulkDetailsNotJSON", func(rec *sessiond.ChangeRecords) {
			rec.Events[len(rec.Events)-1].Details = map[string]any{"c": make(chan int)}
		}},
		{"DeliveryWithoutID", func(rec *sessiond.ChangeRecords) { rec.Deliveries[0].ID = "" }},
		{"DeliveryNotPending", func(rec *sessiond.ChangeRecords) { rec.Deliveries[2].State = sessiond.DeliveryDead }},
	} {
		subject := "carol-" + tc.name
		var live []*sessiond.Session
		for range 3 {
			s := NewSession(subject, t0)
			f.create(clone(s))
			live = append(live, s)
		}
		_, err := st.RevokeSubjectRecorded(f.ctx, subject, "", at(10*time.Minute), sessiond.ReasonAdmin,
			func(revs []sessiond.Revocation) sessiond.ChangeRecords {
				rec := subjectRecords(subject, revs, at(10*time.Minute))
				tc.edit(&rec)
				return rec
			})
		wantErr(t, tc.name+": RevokeSubjectRecorded", err, sessiond.ErrInvalidArgument)
		for _, s := range live {
			f.wantSession(s) // not revoked
		}
		events, _, err := st.QueryEvents(f.ctx, sessiond.EventQuery{Subject: subject})
		if err != nil || len(events) != 0 {
			t.Errorf("%s: events = %v, %v; want none", tc.name, events, err)
		}
	}
	if ds, err := st.ListDeliveries(f.ctx, sessiond.DeliveryPending, 100); err != nil || len(ds) != 0 {
		t.Errorf("refused revocations left deliveries %v, %v; want none", deliveryIDs(ds), err)
	}
}
