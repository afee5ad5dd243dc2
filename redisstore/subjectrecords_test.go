package redisstore_test

import (
	"errors"
	"testing"
	"time"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/redisstore"
)

// A login that lands between the read of a subject's sessions and their
// revocation makes the script refuse the records prepared without it:
// revoked is called again, and only what that call returned is stored;
// on both paths (a Cluster keeps the records pending, then moves them).
func TestStore_RevokeSubjectRecordedSessionsChange(t *testing.T) {
	eachBatching(t, func(t *testing.T, st *redisstore.Store, _ bool) { testRevokeSubjectRecordedSessionsChange(t, st) })
}

func testRevokeSubjectRecordedSessionsChange(t *testing.T, st *redisstore.Store) {
	ctx := t.Context()
	t0 := now()
	session := func() *sessiond.Session {
		return &sessiond.Session{
			ID: sessiond.NewSessionID(), Subject: "alice", Strategy: sessiond.StrategyDatabase,
			CreatedAt: t0, LastActiveAt: t0, IdleExpiresAt: t0.Add(30 * time.Minute), ExpiresAt: t0.Add(8 * time.Hour),
		}
	}
	for range 2 {
		if err := st.Create(ctx, session()); err != nil {
			t.Fatalf("Create() = %v", err)
		}
	}
	late := session()
	var calls []int
	var last sessiond.ChangeRecords
	revs, err := st.RevokeSubjectRecorded(ctx, "alice", "", t0.Add(time.Minute), sessiond.ReasonAdmin,
		func(revs []sessiond.Revocation) sessiond.ChangeRecords {
			calls = append(calls, len(revs))
			if len(calls) == 1 {
				if err := st.Create(ctx, late); err != nil {
					t.Fatalf("Create() = %v", err)
				}
			}
			last = sessiond.ChangeRecords{}
			for _, r := range append(revs, sessiond.Revocation{}) {
				e := sessiond.Event{ID: sessiond.NewEventID(t0), Time: t0, Type: sessiond.EventSessionRevoked,
					Subject: "alice", SessionID: r.SessionID}
				last.Events = append(last.Events, e)
				last.Deliveries = append(last.Deliveries, sessiond.Delivery{ID: "d" + e.ID, EventID: e.ID,
					NextAttemptAt: t0, CreatedAt: t0, UpdatedAt: t0})
			}
			return last
		})
	if err != nil {
		t.Fatalf("RevokeSubjectRecorded() = %v", err)
	}
	if len(calls) != 2 || calls[0] != 2 || calls[1] != 3 {
		t.Fatalf("revoked called with %v sessions; want 2, then 3 after the login", calls)
	}
	if len(revs) != 3 {
		t.Fatalf("revoked %d sessions; want 3", len(revs))
	}
	got := queryAll(t, st, sessiond.EventQuery{Subject: "alice"})
	want := make([]string, len(last.Events))
	for i, e := range last.Events {
		want[i] = e.ID
	}
	if len(got) != len(want) {
		t.Fatalf("events %v; want the last call's %v", got, want)
	}
	for _, id := range want {
		found := false
		for _, g := range got {
			found = found || g == id
		}
		if !found {
			t.Errorf("event %s of the last call not stored; stored %v", id, got)
		}
	}
	ds, err := st.ListDeliveries(ctx, sessiond.DeliveryPending, 100)
	if err != nil || len(ds) != len(last.Deliveries) {
		t.Errorf("pending deliveries = %d, %v; want the last call's %d", len(ds), err, len(last.Deliveries))
	}
}

// TestStore_RevokeSubjectRecordedLoginStorm: a subject that logs in again
// between every read of its sessions and their revocation (a script, or
// whoever holds the password) cannot hold the revocation off: the
// sessions created after its time are not the revocation's to end, so
// they do not make the script refuse the records prepared. Every try used
// to find a new session, and the call gave up with ErrConflict, revoking
// nothing.
func TestStore_RevokeSubjectRecordedLoginStorm(t *testing.T) {
	eachBatching(t, func(t *testing.T, st *redisstore.Store, _ bool) {
		ctx := t.Context()
		t0 := now()
		at := t0.Add(time.Minute)
		session := func(created time.Time) *sessiond.Session {
			return &sessiond.Session{
				ID: sessiond.NewSessionID(), Subject: "storm", Strategy: sessiond.StrategyDatabase,
				CreatedAt: created, LastActiveAt: created, IdleExpiresAt: created.Add(30 * time.Minute), ExpiresAt: created.Add(8 * time.Hour),
			}
		}
		before := session(t0)
		// Dated after the revocation's time but there when it begins: a
		// login dated past a kill switch's watermark, or made on a node
		// whose clock is ahead. It is revoked.
		dated := session(at.Add(time.Second))
		for _, s := range []*sessiond.Session{before, dated} {
			if err := st.Create(ctx, s); err != nil {
				t.Fatal(err)
			}
		}
		var after []sessiond.SessionID
		revs, err := st.RevokeSubjectRecorded(ctx, "storm", "", at, sessiond.ReasonAdmin,
			func(revs []sessiond.Revocation) sessiond.ChangeRecords {
				s := session(at.Add(2 * time.Second)) // a login after the revocation began, on every try
				if err := st.Create(ctx, s); err != nil {
					t.Fatal(err)
				}
				after = append(after, s.ID)
				return sessiond.ChangeRecords{}
			})
		if err != nil {
			t.Fatalf("RevokeSubjectRecorded under a login storm = %v; want it done", err)
		}
		got := map[sessiond.SessionID]bool{}
		for _, r := range revs {
			got[r.SessionID] = true
		}
		if len(revs) != 2 || !got[before.ID] || !got[dated.ID] {
			t.Errorf("revoked %v; want %s and %s, the sessions there when the revocation began", revs, before.ID, dated.ID)
		}
		for _, id := range after {
			if s, err := st.Get(ctx, id); err != nil || !s.RevokedAt.IsZero() {
				t.Errorf("session %s created after the revocation's time: %v, revoked at %v; want it live", id, err, s.RevokedAt)
			}
		}
	})
}

// TestStore_RevokeSubjectRecordedBounded: RevokeSubjectRecorded, one
// script over the whole subject (its contract: every revocation and its
// records in one step), refuses a subject whose index holds more than
// SubjectRecordedMax sessions with ErrUnsupported, changing nothing and
// calling revoked never, rather than hold Redis for seconds; it revokes a
// subject of SubjectRecordedMax as before, on both paths.
func TestStore_RevokeSubjectRecordedBounded(t *testing.T) {
	eachBatching(t, func(t *testing.T, st *redisstore.Store, _ bool) {
		ctx := t.Context()
		t0 := now()
		revoked := func(revs []sessiond.Revocation) sessiond.ChangeRecords { return sessiond.ChangeRecords{} }
		fits := createSubject(t, st, "fits", redisstore.SubjectRecordedMax, t0)
		revs, err := st.RevokeSubjectRecorded(ctx, "fits", "", t0.Add(time.Second), sessiond.ReasonAdmin, revoked)
		if err != nil || len(revs) != len(fits) {
			t.Fatalf("RevokeSubjectRecorded(%d sessions) = %d, %v; want %d", len(fits), len(revs), err, len(fits))
		}
		over := createSubject(t, st, "over", redisstore.SubjectRecordedMax+1, t0)
		calls := 0
		revs, err = st.RevokeSubjectRecorded(ctx, "over", "", t0.Add(time.Second), sessiond.ReasonAdmin,
			func(revs []sessiond.Revocation) sessiond.ChangeRecords { calls++; return sessiond.ChangeRecords{} })
		if !errors.Is(err, sessiond.ErrUnsupported) || len(revs) != 0 || calls != 0 {
			t.Fatalf("RevokeSubjectRecorded(%d sessions) = %d, %v, revoked called %d times; want ErrUnsupported, none", len(over), len(revs), err, calls)
		}
		for _, s := range over {
			if g, err := st.Get(ctx, s.ID); err != nil || g.Revoked() {
				t.Fatalf("Get(%s) = revoked %t, %v; want live", s.ID, g.Revoked(), err)
			}
		}
	})
}
