package sessiondtest

import (
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/sessiond/sessiond"
)

// changeRecordStore is what TestChangeRecorder needs: a store that writes
// the records of a creation or revocation with it, and lets them be read
// back.
type changeRecordStore interface {
	changeEventStore
	sessiond.ChangeRecorder
}

// TestChangeRecorder checks a sessiond.ChangeRecorder: the events and
// webhook deliveries of a session's creation, of the evictions its limit
// causes and of its revocation are stored when, and only when, the change
// is; input the store refuses changes nothing at all.
func TestChangeRecorder(t *testing.T, newStore func(t *testing.T) sessiond.Store) {
	runSuite(t, newStore, []subtest[changeRecordStore]{
		{"CreateWritesRecords", recordCreateWrites},
		{"FailedCreateWritesNothing", recordFailedCreateWritesNothing},
		{"BadCreateRecordsChangeNothing", recordBadCreateChangesNothing},
		{"EvictionsWriteRecords", recordEvictionsWrite},
		{"LoweredLimitEvictsABatch", recordLoweredLimit},
		{"ConcurrentLoginsUnderALimit", recordConcurrentLimited},
		{"LimitReachedWritesNothing", recordLimitReachedWritesNothing},
		{"RevokeWritesRecordsOnce", recordRevokeWritesOnce},
		{"RevokeUnknownWritesNothing", recordRevokeUnknownWritesNothing},
		{"RevokeWithoutRecordsReportsOnce", recordRevokeWithoutRecords},
		{"BadRevokeRecordsChangeNothing", recordBadRevokeChangesNothing},
	})
}

// records returns an event of typ about s at tm and one delivery of it.
func records(typ sessiond.EventType, s *sessiond.Session, tm time.Time) sessiond.ChangeRecords {
	e := newEvent(typ, s.Subject, s.ID, tm)
	d := newDelivery(tm)
	d.EventID = e.ID
	return sessiond.ChangeRecords{Events: []sessiond.Event{e}, Deliveries: []sessiond.Delivery{d}}
}

// wantRecords fails t unless the session's stored events are exactly
// want's, and every delivery of want is pending.
func wantRecords(t *testing.T, f *fixture, st changeEventStore, op string, sid sessiond.SessionID, want sessiond.ChangeRecords) {
	t.Helper()
	events, ds := carried(t, f, st, sid)
	if len(events) != len(want.Events) {
		t.Fatalf("%s: session %s has %d events; want %d", op, sid, len(events), len(want.Events))
	}
	for i, e := range want.Events {
		e.Details = jsonDetails(t, e.Details)
		checkEvent(t, op+": QueryEvents", events[i], e)
	}
	for _, d := range want.Deliveries {
		found := false
		for _, got := range ds {
			if got.ID == d.ID {
				checkDelivery(t, op+": ListDeliveries", got, d)
				found = true
			}
		}
		if !found {
			t.Errorf("%s: delivery %s not pending; pending %v", op, d.ID, deliveryIDs(ds))
		}
	}
}

// wantNoRecords fails t if session sid has events, or any delivery is pending.
func wantNoRecords(t *testing.T, f *fixture, st changeEventStore, op string, sid sessiond.SessionID) {
	t.Helper()
	if events, ds := carried(t, f, st, sid); len(events) != 0 || len(ds) != 0 {
		t.Errorf("%s: %d events of the session and %d pending deliveries; want none", op, len(events), len(ds))
	}
}

func recordCreateWrites(t *testing.T, f *fixture, st changeRecordStore) {
	if !st.WritesChangeEvents() {
		t.Fatal("WritesChangeEvents() = false on a store the suite runs on")
	}
	s := NewSession("alice", t0)
	tok := NewToken(sessiond.KindAccess, s.ID, t0)
	rec := records(sessiond.EventSessionCreated, s, t0)
	evicted, err := st.CreateRecorded(f.ctx, clone(s), 0, false, rec, nil, tok)
	if err != nil || len(evicted) != 0 {
		t.Fatalf("CreateRecorded = %v, %v; want no evictions, nil", evicted, err)
	}
	f.wantSession(s)
	f.wantToken(tok)
	wantRecords(t, f, st, "CreateRecorded", s.ID, rec)
}

func recordFailedCreateWritesNothing(t *testing.T, f *fixture, st changeRecordStore) {
	s := NewSession("alice", t0)
	tok := NewToken(sessiond.KindAccess, s.ID, t0)
	f.create(clone(s), tok)
	for _, tc := range []struct {
		name string
		s    *sessiond.Session
		tok  sessiond.Token
	}{
		{"SessionIDExists", s, NewToken(sessiond.KindAccess, s.ID, t0)},
		{"TokenHashExists", NewSession("alice", t0), tok},
	} {
		next := clone(tc.s)
		tok := tc.tok
		tok.SessionID = next.ID
		rec := records(sessiond.EventSessionCreated, next, t0)
		rec.Events[0].Subject = "carol" // its own subject, to find it by
		for _, max := range []int{0, 5} {
			_, err := st.CreateRecorded(f.ctx, next, max, true, rec, nil, tok)
			wantErr(t, tc.name+": CreateRecorded", err, sessiond.ErrConflict)
			events, _, qerr := st.QueryEvents(f.ctx, sessiond.EventQuery{Subject: "carol"})
			if qerr != nil || len(events) != 0 {
				t.Errorf("%s (max %d): a refused create stored events %v, %v", tc.name, max, events, qerr)
			}
		}
	}
	if ds, err := st.ListDeliveries(f.ctx, sessiond.DeliveryPending, 100); err != nil || len(ds) != 0 {
		t.Errorf("refused creates left deliveries %v, %v; want none", deliveryIDs(ds), err)
	}
}

// badRecords are edits that make records (as records returns them) ones a
// store must refuse with ErrInvalidArgument.
var badRecords = []struct {
	name string
	edit func(rec *sessiond.ChangeRecords)
}{
	{"EventWithoutID", func(rec *sessiond.ChangeRecords) { rec.Events[0].ID = "" }},
	{"DetailsNotJSON", func(rec *sessiond.ChangeRecords) { rec.Events[0].Details = map[string]any{"c": make(chan int)} }},
	{"DeliveryWithoutID", func(rec *sessiond.ChangeRecords) { rec.Deliveries[0].ID = "" }},
	{"DeliveryNotPending", func(rec *sessiond.ChangeRecords) { rec.Deliveries[0].State = sessiond.DeliveryDead }},
}

func recordBadCreateChangesNothing(t *testing.T, f *fixture, st changeRecordStore) {
	for _, tc := range badRecords {
		for _, max := range []int{0, 3} {
			s := NewSession("alice", t0)
			rec := records(sessiond.EventSessionCreated, s, t0)
			tc.edit(&rec)
			_, err := st.CreateRecorded(f.ctx, clone(s), max, true, rec, nil, NewToken(sessiond.KindAccess, s.ID, t0))
			wantErr(t, tc.name+": CreateRecorded", err, sessiond.ErrInvalidArgument)
			f.wantGone(s.ID)
			wantNoRecords(t, f, st, tc.name, s.ID)
		}
	}
}

// limited creates n live sessions of alice, least recently active first.
func limited(f *fixture, n int) []*sessiond.Session {
	out := make([]*sessiond.Session, n)
	for i := range out {
		s := NewSession("alice", t0)
		s.LastActiveAt = at(time.Duration(i+1) * time.Minute)
		f.create(clone(s))
		out[i] = s
	}
	return out
}

func recordEvictionsWrite(t *testing.T, f *fixture, st changeRecordStore) {
	old := limited(f, 3)
	s := NewSession("alice", at(10*time.Minute))
	rec := records(sessiond.EventSessionCreated, s, s.CreatedAt)
	evictedRecs := map[sessiond.SessionID]sessiond.ChangeRecords{}
	evicted, err := st.CreateRecorded(f.ctx, clone(s), 2, true, rec, func(r sessiond.Revocation) sessiond.ChangeRecords {
		if r.Reason != sessiond.ReasonLimit || !r.RevokedAt.Equal(s.CreatedAt) {
			t.Errorf("evicted(%v): want reason limit at the new session's creation", r)
		}
		for _, o := range old {
			if o.ID == r.SessionID {
				evictedRecs[r.SessionID] = records(sessiond.EventSessionRevoked, o, s.CreatedAt)
			}
		}
		return evictedRecs[r.SessionID]
	})
	if err != nil {
		t.Fatalf("CreateRecorded = %v", err)
	}
	if len(evicted) != 2 || evicted[0].SessionID != old[0].ID || evicted[1].SessionID != old[1].ID {
		t.Fatalf("evicted %v; want the two least recently active", evicted)
	}
	wantRecords(t, f, st, "new session", s.ID, rec)
	for _, o := range old[:2] {
		wantRecords(t, f, st, "evicted session", o.ID, evictedRecs[o.ID])
	}
	wantRecords(t, f, st, "kept session", old[2].ID, sessiond.ChangeRecords{})
}

// recordLoweredLimit: a subject far over a lowered limit loses at most
// sessiond.MaxLimitEvictions sessions a login, each with its records.
func recordLoweredLimit(t *testing.T, f *fixture, st changeRecordStore) {
	old := limited(f, sessiond.MaxLimitEvictions+10)
	s := NewSession("alice", at(10*time.Minute))
	rec := records(sessiond.EventSessionCreated, s, s.CreatedAt)
	asked := 0
	evicted, err := st.CreateRecorded(f.ctx, clone(s), 2, true, rec, func(r sessiond.Revocation) sessiond.ChangeRecords {
		asked++
		// An event only: the test reads pending deliveries a page at a time.
		return sessiond.ChangeRecords{Events: []sessiond.Event{newEvent(sessiond.EventSessionRevoked, r.Subject, r.SessionID, s.CreatedAt)}}
	})
	if err != nil || len(evicted) != sessiond.MaxLimitEvictions {
		t.Fatalf("CreateRecorded(max 2) over %d live = %d evicted, %v; want %d", len(old), len(evicted), err, sessiond.MaxLimitEvictions)
	}
	if asked > 2*sessiond.MaxLimitEvictions {
		t.Errorf("evicted called for %d sessions; want at most %d", asked, 2*sessiond.MaxLimitEvictions)
	}
	for i, r := range evicted {
		if r.SessionID != old[i].ID {
			t.Fatalf("eviction %d = %s; want the least recently active %s", i, r.SessionID, old[i].ID)
		}
		if events, _ := carried(t, f, st, r.SessionID); len(events) != 1 {
			t.Fatalf("evicted session %s has %d events; want 1", r.SessionID, len(events))
		}
	}
	wantRecords(t, f, st, "new session", s.ID, rec)
	wantRecords(t, f, st, "kept session", old[sessiond.MaxLimitEvictions].ID, sessiond.ChangeRecords{})
}

func recordLimitReachedWritesNothing(t *testing.T, f *fixture, st changeRecordStore) {
	old := limited(f, 2)
	s := NewSession("alice", at(10*time.Minute))
	rec := records(sessiond.EventSessionCreated, s, s.CreatedAt)
	_, err := st.CreateRecorded(f.ctx, clone(s), 2, false, rec, func(r sessiond.Revocation) sessiond.ChangeRecords {
		t.Errorf("evicted(%v) called without evict", r)
		return sessiond.ChangeRecords{}
	})
	wantErr(t, "CreateRecorded", err, sessiond.ErrLimitReached)
	f.wantGone(s.ID)
	wantNoRecords(t, f, st, "refused session", s.ID)
	for _, o := range old {
		f.wantSession(o)
	}
	// A bad eviction record refuses the whole create: nobody is evicted.
	_, err = st.CreateRecorded(f.ctx, clone(s), 2, true, rec, func(r sessiond.Revocation) sessiond.ChangeRecords {
		return sessiond.ChangeRecords{Events: []sessiond.Event{{Type: sessiond.EventSessionRevoked}}}
	})
	wantErr(t, "CreateRecorded with a bad eviction record", err, sessiond.ErrInvalidArgument)
	f.wantGone(s.ID)
	wantNoRecords(t, f, st, "refused session", s.ID)
	for _, o := range old {
		f.wantSession(o)
		wantNoRecords(t, f, st, "not evicted", o.ID)
	}
}

func recordRevokeWritesOnce(t *testing.T, f *fixture, st changeRecordStore) {
	s := NewSession("alice", t0)
	f.create(clone(s))
	when := at(time.Hour)
	var rec sessiond.ChangeRecords
	got, recorded, err := st.RevokeRecorded(f.ctx, s.ID, when, sessiond.ReasonLogout, func(r *sessiond.Session) sessiond.ChangeRecords {
		if r.ID != s.ID || !r.RevokedAt.Equal(when) || r.RevokeReason != sessiond.ReasonLogout || r.Subject != s.Subject {
			t.Errorf("revoked(%+v): want the session as revoked", r)
		}
		rec = records(sessiond.EventSessionRevoked, r, when)
		return rec
	})
	if err != nil || !recorded {
		t.Fatalf("RevokeRecorded = %v, %v; want recorded, nil", recorded, err)
	}
	want := clone(s)
	want.RevokedAt, want.RevokeReason = when, sessiond.ReasonLogout
	checkSession(t, "RevokeRecorded", got, want)
	f.wantSession(want)
	wantRecords(t, f, st, "RevokeRecorded", s.ID, rec)

	// Revoked already: unchanged, nothing more recorded.
	got, recorded, err = st.RevokeRecorded(f.ctx, s.ID, at(2*time.Hour), sessiond.ReasonAdmin, func(r *sessiond.Session) sessiond.ChangeRecords {
		return records(sessiond.EventSessionRevoked, r, at(2*time.Hour))
	})
	if err != nil || recorded {
		t.Fatalf("second RevokeRecorded = %v, %v; want not recorded, nil", recorded, err)
	}
	checkSession(t, "second RevokeRecorded", got, want)
	wantRecords(t, f, st, "second RevokeRecorded", s.ID, rec)
}

// recordRevokeWithoutRecords: with a nil callback RevokeRecorded only
// revokes, and still reports whether this call was the one that did: the
// Manager records the revocation's events after it by that answer.
func recordRevokeWithoutRecords(t *testing.T, f *fixture, st changeRecordStore) {
	s := NewSession("alice", t0)
	f.create(clone(s))
	when := at(time.Hour)
	got, recorded, err := st.RevokeRecorded(f.ctx, s.ID, when, sessiond.ReasonLogout, nil)
	if err != nil || !recorded {
		t.Fatalf("RevokeRecorded(nil) = %v, %v; want recorded, nil", recorded, err)
	}
	want := clone(s)
	want.RevokedAt, want.RevokeReason = when, sessiond.ReasonLogout
	checkSession(t, "RevokeRecorded(nil)", got, want)
	f.wantSession(want)
	wantNoRecords(t, f, st, "RevokeRecorded(nil)", s.ID)

	got, recorded, err = st.RevokeRecorded(f.ctx, s.ID, at(2*time.Hour), sessiond.ReasonAdmin, nil)
	if err != nil || recorded {
		t.Fatalf("second RevokeRecorded(nil) = %v, %v; want not recorded, nil", recorded, err)
	}
	checkSession(t, "second RevokeRecorded(nil)", got, want)
}

func recordRevokeUnknownWritesNothing(t *testing.T, f *fixture, st changeRecordStore) {
	id := sessiond.NewSessionID()
	_, recorded, err := st.RevokeRecorded(f.ctx, id, at(time.Hour), sessiond.ReasonLogout, func(r *sessiond.Session) sessiond.ChangeRecords {
		return records(sessiond.EventSessionRevoked, r, at(time.Hour))
	})
	wantErr(t, "RevokeRecorded", err, sessiond.ErrNotFound)
	if recorded {
		t.Error("RevokeRecorded of an unknown session reported recorded")
	}
	wantNoRecords(t, f, st, "unknown session", id)
}

func recordBadRevokeChangesNothing(t *testing.T, f *fixture, st changeRecordStore) {
	s := NewSession("alice", t0)
	f.create(clone(s))
	_, _, err := st.RevokeRecorded(f.ctx, s.ID, at(time.Hour), sessiond.ReasonLogout, func(r *sessiond.Session) sessiond.ChangeRecords {
		rec := records(sessiond.EventSessionRevoked, r, at(time.Hour))
		rec.Events[0].ID = ""
		return rec
	})
	wantErr(t, "RevokeRecorded", err, sessiond.ErrInvalidArgument)
	f.wantSession(s) // not revoked
	wantNoRecords(t, f, st, "refused revoke", s.ID)
}

// recordConcurrentLimited: many logins of one subject at once, under a
// limit, each with its records (the path of every login when events are
// written with the change). Evicting, every one succeeds and exactly max
// stay live; refusing, max succeed and the rest get ErrLimitReached. A
// store that prepares its evictions' records in rounds must not give up on
// logins whose victims a concurrent one changed.
func recordConcurrentLimited(t *testing.T, f *fixture, st changeRecordStore) {
	const n, max = 20, 3
	for _, evict := range []bool{true, false} {
		subject := "concurrent-" + map[bool]string{true: "evict", false: "refuse"}[evict]
		var wg sync.WaitGroup
		var mu sync.Mutex
		created, refused := 0, 0
		start := make(chan struct{})
		for i := range n {
			wg.Go(func() {
				<-start
				s := NewSession(subject, at(time.Duration(i)*time.Millisecond))
				_, err := st.CreateRecorded(f.ctx, s, max, evict, records(sessiond.EventSessionCreated, s, s.CreatedAt),
					func(r sessiond.Revocation) sessiond.ChangeRecords {
						return records(sessiond.EventSessionRevoked, &sessiond.Session{ID: r.SessionID, Subject: subject}, s.CreatedAt)
					}, NewToken(sessiond.KindAccess, s.ID, s.CreatedAt))
				mu.Lock()
				defer mu.Unlock()
				switch {
				case err == nil:
					created++
				case !evict && errors.Is(err, sessiond.ErrLimitReached):
					refused++
				default:
					t.Errorf("CreateRecorded (max %d, evict %v) = %v", max, evict, err)
				}
			})
		}
		close(start)
		wg.Wait()
		live, err := st.List(f.ctx, subject, at(time.Second))
		if err != nil || len(live) != max {
			t.Errorf("evict %v: %d live after %d concurrent logins, %v; want %d", evict, len(live), n, err, max)
		}
		if evict && created != n || !evict && (created != max || refused != n-max) {
			t.Errorf("evict %v: %d created, %d refused of %d; want %d created", evict, created, refused, n, map[bool]int{true: n, false: max}[evict])
		}
	}
}
