package redisstore_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/opaquetoken"
	"github.com/sessiond/sessiond/redisstore"
)

// createSubject stores n live sessions of subject created at created,
// each with a client of its own, and returns them.
func createSubject(t *testing.T, st *redisstore.Store, subject string, n int, created time.Time) []*sessiond.Session {
	t.Helper()
	out := make([]*sessiond.Session, n)
	for i := range out {
		s := newSession(subject, created)
		s.Client = sessiond.Client{IP: fmt.Sprintf("198.51.100.%d", i%250+1), UserAgent: fmt.Sprintf("agent/%d", i)}
		if err := st.Create(t.Context(), s); err != nil {
			t.Fatalf("Create() = %v", err)
		}
		out[i] = s
	}
	return out
}

// TestStore_SubjectScriptsBounded: RevokeSubject (a walk of its own) and
// the Manager's RevokeSubject (RevokeSubjectBatch, with records) revoke a
// subject of 300 sessions in scripts of at most 128 sessions each, as the
// scripts' own replies count them: one script over every session held
// Redis for 2.2–12.1 s on a subject of 100,000.
func TestStore_SubjectScriptsBounded(t *testing.T) {
	if redisstore.SubjectBatch > 128 {
		t.Fatalf("SubjectBatch = %d; want at most 128", redisstore.SubjectBatch)
	}
	const n = 300
	eachBatching(t, func(t *testing.T, st *redisstore.Store, _ bool) {
		var (
			mu      sync.Mutex
			scripts []int
		)
		redisstore.ObserveSubjectBatches(st, func(revoked int) {
			mu.Lock()
			defer mu.Unlock()
			scripts = append(scripts, revoked)
		})
		check := func(op string, revoked int) {
			t.Helper()
			mu.Lock()
			defer mu.Unlock()
			sum := 0
			for _, k := range scripts {
				sum += k
				if k > redisstore.SubjectBatch {
					t.Errorf("%s: a script revoked %d sessions; want at most %d", op, k, redisstore.SubjectBatch)
				}
			}
			if sum != revoked || len(scripts) < (n+redisstore.SubjectBatch-1)/redisstore.SubjectBatch {
				t.Errorf("%s: scripts revoked %v (%d in all); want %d, at most %d a script", op, scripts, sum, revoked, redisstore.SubjectBatch)
			}
			scripts = nil
		}
		created := now()
		createSubject(t, st, "walked", n, created)
		revs, err := st.RevokeSubject(t.Context(), "walked", "", created.Add(time.Second), sessiond.ReasonAdmin)
		if err != nil || len(revs) != n {
			t.Fatalf("RevokeSubject() = %d revocations, %v; want %d", len(revs), err, n)
		}
		check("RevokeSubject", n)

		createSubject(t, st, "managed", n, created)
		m := batchManager(t, st, &carrySink{})
		if got, err := m.RevokeSubject(t.Context(), "managed", "", sessiond.ReasonAdmin); err != nil || got != n {
			t.Fatalf("Manager.RevokeSubject() = %d, %v; want %d", got, err, n)
		}
		check("Manager.RevokeSubject", n)
	})
}

// TestStore_RevokeSubjectBatchSetChanges: a batch whose sessions change
// between the script that finds them and the one that revokes them is
// prepared again, and only what the last call of revoked returned is
// stored: a session revoked meanwhile changes the set; a login after the
// batch's last session changes whether live sessions remain, so the bulk
// event prepared for a last batch must not go with it.
func TestStore_RevokeSubjectBatchSetChanges(t *testing.T) {
	eachBatching(t, func(t *testing.T, st *redisstore.Store, _ bool) {
		ctx := t.Context()
		t0 := now()
		at := t0.Add(time.Second)
		session := func(expires time.Duration) *sessiond.Session {
			s := newSession("alice", t0)
			s.ExpiresAt = t0.Add(expires)
			if err := st.Create(ctx, s); err != nil {
				t.Fatal(err)
			}
			return s
		}
		// The index's order is by absolute expiry: L0 … L3, then the
		// except, the last member when the walk begins.
		var live []*sessiond.Session
		for i := range 4 {
			live = append(live, session(8*time.Hour+time.Duration(i)*time.Minute))
		}
		except := session(9 * time.Hour)
		var late *sessiond.Session
		type call struct {
			n    int
			more bool
		}
		var (
			calls  []call
			stored []sessiond.ChangeRecords
		)
		revoked := func(revs []sessiond.Revocation, _ []sessiond.Client, more bool) sessiond.ChangeRecords {
			calls = append(calls, call{len(revs), more})
			switch len(calls) {
			case 1: // L0 … L2, more: L0 ends before they are written
				if _, err := st.Revoke(ctx, live[0].ID, t0, sessiond.ReasonLogout); err != nil {
					t.Fatal(err)
				}
			case 2: // L1 … L3, the last: a login lands after them
				late = session(8*time.Hour + 30*time.Minute)
			}
			rec := sessiond.ChangeRecords{}
			for _, r := range revs {
				rec.Events = append(rec.Events, sessiond.Event{ID: sessiond.NewEventID(t0), Time: t0,
					Type: sessiond.EventSessionRevoked, Subject: "alice", SessionID: r.SessionID})
			}
			if !more {
				rec.Events = append(rec.Events, sessiond.Event{ID: sessiond.NewEventID(t0), Time: t0,
					Type: sessiond.EventBulkRevoked, Subject: "alice"})
			}
			stored = append(stored, rec)
			return rec
		}
		revs, _, next, err := st.RevokeSubjectBatch(ctx, "alice", except.ID, at, sessiond.ReasonAdmin, "", 3, revoked)
		if err != nil {
			t.Fatalf("RevokeSubjectBatch() = %v", err)
		}
		ids := func(revs []sessiond.Revocation) []sessiond.SessionID {
			var out []sessiond.SessionID
			for _, r := range revs {
				out = append(out, r.SessionID)
			}
			return out
		}
		if want := []sessiond.SessionID{live[1].ID, live[2].ID, live[3].ID}; !slices.Equal(ids(revs), want) || next == "" {
			t.Fatalf("RevokeSubjectBatch() = %v, cursor %q; want %v and a cursor", ids(revs), next, want)
		}
		revs, _, next, err = st.RevokeSubjectBatch(ctx, "alice", except.ID, at, sessiond.ReasonAdmin, next, 3, revoked)
		if err != nil || !slices.Equal(ids(revs), []sessiond.SessionID{late.ID}) || next != "" {
			t.Fatalf("RevokeSubjectBatch(next) = %v, cursor %q, %v; want the login, and the walk over", ids(revs), next, err)
		}
		if want := []call{{3, true}, {3, false}, {3, true}, {1, false}}; !slices.Equal(calls, want) {
			t.Fatalf("revoked called with %v; want %v", calls, want)
		}
		var wantIDs []string
		for _, rec := range stored[2:] {
			for _, e := range rec.Events {
				wantIDs = append(wantIDs, e.ID)
			}
		}
		got := queryAll(t, st, sessiond.EventQuery{Subject: "alice"})
		slices.Sort(got)
		slices.Sort(wantIDs)
		if !slices.Equal(got, wantIDs) {
			t.Errorf("events stored %v; want those of each batch's last call of revoked %v", got, wantIDs)
		}
		last := stored[len(stored)-1]
		if bulk := queryAll(t, st, sessiond.EventQuery{Subject: "alice", Type: sessiond.EventBulkRevoked}); len(bulk) != 1 || bulk[0] != last.Events[len(last.Events)-1].ID {
			t.Errorf("bulk events stored %v; want the last batch's only", bulk)
		}
	})
}

// carrySink is an AtomicSink as the server's is with a webhook endpoint:
// each event goes to the store with one delivery (or, declining, to
// Record after the change).
type carrySink struct {
	decline             bool
	mu                  sync.Mutex
	committed, recorded []sessiond.Event
}

func (s *carrySink) Record(_ context.Context, e sessiond.Event) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.recorded = append(s.recorded, e)
	return nil
}

func (s *carrySink) Prepare(_ context.Context, e sessiond.Event) ([]sessiond.Event, []sessiond.Delivery, bool, error) {
	if s.decline {
		return nil, nil, false, nil
	}
	d := sessiond.Delivery{ID: "msg_" + e.ID, Endpoint: "ops", EventID: e.ID, Payload: []byte("{}"), State: sessiond.DeliveryPending,
		NextAttemptAt: e.Time, CreatedAt: e.Time, UpdatedAt: e.Time}
	return []sessiond.Event{e}, []sessiond.Delivery{d}, true, nil
}

func (s *carrySink) Committed(_ context.Context, e sessiond.Event) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.committed = append(s.committed, e)
}

// ofType returns the events of typ in es.
func ofType(es []sessiond.Event, typ sessiond.EventType) []sessiond.Event {
	var out []sessiond.Event
	for _, e := range es {
		if e.Type == typ {
			out = append(out, e)
		}
	}
	return out
}

// batchManager is a database-strategy Manager on st with sink.
func batchManager(t *testing.T, st sessiond.Store, sink sessiond.EventSink) *sessiond.Manager {
	t.Helper()
	m, err := sessiond.New(context.Background(), sessiond.Options{Strategy: sessiond.StrategyDatabase, Store: st,
		Opaque: opaquetoken.Codec{}, Events: sink, GCInterval: -1})
	if err != nil {
		t.Fatalf("sessiond.New() = %v", err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

// subjectRecords checks what the event log and the outbox of st hold of
// subject's revocation: for each session of revoked exactly one
// session.revoked event, with the session's client, and one pending
// delivery of it; none for the others of sessions.
func subjectRecords(t *testing.T, st *redisstore.Store, subject string, sessions []*sessiond.Session, revoked map[sessiond.SessionID]bool) {
	t.Helper()
	ctx := t.Context()
	events, _, err := st.QueryEvents(ctx, sessiond.EventQuery{Subject: subject, Type: sessiond.EventSessionRevoked, Limit: sessiond.MaxEventLimit})
	if err != nil {
		t.Fatal(err)
	}
	ds, err := st.ListDeliveries(ctx, sessiond.DeliveryPending, 5000)
	if err != nil {
		t.Fatal(err)
	}
	delivered := map[string]int{}
	for _, d := range ds {
		delivered[d.EventID]++
	}
	per := map[sessiond.SessionID][]sessiond.Event{}
	for _, e := range events {
		per[e.SessionID] = append(per[e.SessionID], e)
	}
	for _, s := range sessions {
		es := per[s.ID]
		switch {
		case !revoked[s.ID] && len(es) != 0:
			t.Errorf("session %s, not revoked, has %d session.revoked events", s.ID, len(es))
		case revoked[s.ID] && len(es) != 1:
			t.Errorf("session %s has %d session.revoked events; want 1", s.ID, len(es))
		case revoked[s.ID]:
			if es[0].Client != s.Client {
				t.Errorf("session.revoked of %s: client %+v; want %+v", s.ID, es[0].Client, s.Client)
			}
			if delivered[es[0].ID] != 1 {
				t.Errorf("session.revoked of %s has %d pending deliveries; want 1", s.ID, delivered[es[0].ID])
			}
		}
	}
}

// TestManager_RevokeSubjectInBatches: the Manager's RevokeSubject on Redis
// walks the subject a batch at a time: with a sink that hands its records
// to the store, each revoked session has one session.revoked event (its
// client's) and one delivery, written with its batch, and the bulk event
// with the last batch, counting them all; with a sink that declines, the
// same events reach Record after each batch. On both Redis paths (a
// Cluster's keeps the records pending, then moves them).
func TestManager_RevokeSubjectInBatches(t *testing.T) {
	const n = 300
	for _, decline := range []bool{false, true} {
		t.Run(fmt.Sprintf("Declined=%t", decline), func(t *testing.T) {
			eachBatching(t, func(t *testing.T, st *redisstore.Store, _ bool) {
				sink := &carrySink{decline: decline}
				m := batchManager(t, st, sink)
				sessions := createSubject(t, st, "erin", n, now())
				kept := sessions[n/2]
				got, err := m.RevokeSubject(t.Context(), "erin", kept.ID, sessiond.ReasonAdmin)
				if err != nil || got != n-1 {
					t.Fatalf("RevokeSubject() = %d, %v; want %d", got, err, n-1)
				}
				revoked := map[sessiond.SessionID]bool{}
				for _, s := range sessions {
					revoked[s.ID] = s.ID != kept.ID
					g, err := st.Get(t.Context(), s.ID)
					if err != nil || g.Revoked() != revoked[s.ID] {
						t.Fatalf("Get(%s) = revoked %t, %v; want revoked %t", s.ID, g.Revoked(), err, revoked[s.ID])
					}
				}
				sink.mu.Lock()
				defer sink.mu.Unlock()
				events := sink.committed
				if decline {
					events = sink.recorded
					if len(sink.committed) != 0 {
						t.Errorf("Committed got %d events; want none (the sink declined)", len(sink.committed))
					}
				} else {
					if len(sink.recorded) != 0 {
						t.Errorf("Record got %d events; want none (written with the batches)", len(sink.recorded))
					}
					subjectRecords(t, st, "erin", sessions, revoked)
				}
				per := map[sessiond.SessionID]int{}
				for _, e := range ofType(events, sessiond.EventSessionRevoked) {
					per[e.SessionID]++
				}
				for _, s := range sessions {
					if want := map[bool]int{true: 1}[revoked[s.ID]]; per[s.ID] != want {
						t.Errorf("sink got %d session.revoked of %s; want %d", per[s.ID], s.ID, want)
					}
				}
				bulk := ofType(events, sessiond.EventBulkRevoked)
				if len(bulk) != 1 || bulk[0].Details["count"] != n-1 || bulk[0].Details["except"] != string(kept.ID) {
					t.Fatalf("bulk events %+v; want one, count %d, except %s", bulk, n-1, kept.ID)
				}
				stored, _, err := st.QueryEvents(t.Context(), sessiond.EventQuery{Subject: "erin", Type: sessiond.EventBulkRevoked})
				if want := map[bool]int{false: 1}[decline]; err != nil || len(stored) != want {
					t.Errorf("bulk events stored %v, %v; want %d", stored, err, want)
				} else if want == 1 && (stored[0].ID != bulk[0].ID || stored[0].Details["count"] != float64(n-1)) {
					t.Errorf("bulk event stored %+v; want %+v", stored[0], bulk[0])
				}
			})
		})
	}
}

// failingAfter is a store whose RevokeSubjectBatch fails from its
// (batches+1)th call: closed before it, or stopped right after its script
// (KillAfterRevoke), as a node killed or cut off half way through a walk.
type failingAfter struct {
	*redisstore.Store
	batches int
	kill    bool
	calls   atomic.Int32
}

func (f *failingAfter) RevokeSubjectBatch(ctx context.Context, subject string, except sessiond.SessionID, at time.Time,
	reason sessiond.RevokeReason, cursor string, limit int,
	revoked func([]sessiond.Revocation, []sessiond.Client, bool) sessiond.ChangeRecords) ([]sessiond.Revocation, []sessiond.Client, string, error) {
	if int(f.calls.Add(1)) > f.batches {
		if f.kill {
			redisstore.KillAfterRevoke(f.Store) // the Manager calls one batch at a time
		} else {
			f.Store.Close()
		}
	}
	return f.Store.RevokeSubjectBatch(ctx, subject, except, at, reason, cursor, limit, revoked)
}

// TestManager_RevokeSubjectFailsHalfWay: a walk that fails after two
// batches returns the error with the count of those two, records the bulk
// event with that count and the error, and leaves every session revoked,
// however far the store got, with its one event and delivery: those of
// the batch stopped right after its script are in the store too (on a
// Cluster's path, pending until a sweep moves them).
func TestManager_RevokeSubjectFailsHalfWay(t *testing.T) {
	const n = 300
	for _, kill := range []bool{false, true} {
		t.Run(fmt.Sprintf("Killed=%t", kill), func(t *testing.T) {
			eachBatching(t, func(t *testing.T, st *redisstore.Store, bySlot bool) {
				prefix := redisstore.PrefixOf(st)
				sessions := createSubject(t, st, "frank", n, now())
				sink := &carrySink{}
				m := batchManager(t, &failingAfter{Store: st, batches: 2, kill: kill}, sink)
				got, err := m.RevokeSubject(t.Context(), "frank", "", sessiond.ReasonAdmin)
				sink.mu.Lock()
				defer sink.mu.Unlock()
				// What the two batches the Manager saw end revoked.
				want := len(ofType(sink.committed, sessiond.EventSessionRevoked))
				if err == nil || got != want || want == 0 || want >= n {
					t.Fatalf("RevokeSubject() = %d, %v; want the %d of two batches (%d committed) and an error", got, err, want, want)
				}
				if !kill && !errors.Is(err, sessiond.ErrStoreUnavailable) {
					t.Errorf("RevokeSubject() error %v; want ErrStoreUnavailable", err)
				}
				// A store of another node, on the same keys.
				other := newStore(t, redisstore.Options{Prefix: prefix})
				if bySlot {
					redisstore.BatchBySlot(other)
					if _, err := redisstore.SweepPending(t.Context(), other, 0); err != nil {
						t.Fatalf("SweepPending() = %v", err)
					}
				}
				revoked := map[sessiond.SessionID]bool{}
				count := 0
				for _, s := range sessions {
					g, err := other.Get(t.Context(), s.ID)
					if err != nil {
						t.Fatal(err)
					}
					revoked[s.ID] = g.Revoked()
					if g.Revoked() {
						count++
					}
				}
				if wantRevoked := map[bool]int{false: want, true: n}[kill]; count != wantRevoked {
					t.Errorf("%d sessions revoked; want %d", count, wantRevoked)
				}
				subjectRecords(t, other, "frank", sessions, revoked)
				bulk := ofType(sink.recorded, sessiond.EventBulkRevoked)
				if len(bulk) != 1 || bulk[0].Details["count"] != want || bulk[0].Details["error"] != err.Error() {
					t.Errorf("bulk events recorded %+v; want one, count %d, error %q", bulk, want, err)
				}
			})
		})
	}
}

// ignoringRecords is a store that breaks SubjectBatchRevoker's contract:
// it revokes without calling revoked.
type ignoringRecords struct{ *redisstore.Store }

func (s ignoringRecords) RevokeSubjectBatch(ctx context.Context, subject string, except sessiond.SessionID, at time.Time,
	reason sessiond.RevokeReason, cursor string, limit int,
	_ func([]sessiond.Revocation, []sessiond.Client, bool) sessiond.ChangeRecords) ([]sessiond.Revocation, []sessiond.Client, string, error) {
	return s.Store.RevokeSubjectBatch(ctx, subject, except, at, reason, cursor, limit, nil)
}

// TestManager_RevokeSubjectBatchRecordsIgnored: a store that revokes a
// batch without storing its records loses no event: the Manager records
// each session's, and the bulk event, after the change.
func TestManager_RevokeSubjectBatchRecordsIgnored(t *testing.T) {
	singleRedis(t)
	t.Parallel()
	st := newStore(t, redisstore.Options{})
	sink := &carrySink{}
	m := batchManager(t, ignoringRecords{st}, sink)
	sessions := createSubject(t, st, "gina", 200, now())
	if got, err := m.RevokeSubject(t.Context(), "gina", "", sessiond.ReasonAdmin); err != nil || got != len(sessions) {
		t.Fatalf("RevokeSubject() = %d, %v; want %d", got, err, len(sessions))
	}
	sink.mu.Lock()
	defer sink.mu.Unlock()
	per := map[sessiond.SessionID]int{}
	for _, e := range ofType(sink.recorded, sessiond.EventSessionRevoked) {
		per[e.SessionID]++
	}
	for _, s := range sessions {
		if per[s.ID] != 1 {
			t.Errorf("Record got %d session.revoked of %s; want 1", per[s.ID], s.ID)
		}
	}
	if bulk := ofType(sink.recorded, sessiond.EventBulkRevoked); len(bulk) != 1 || bulk[0].Details["count"] != len(sessions) {
		t.Errorf("bulk events recorded %+v; want one, count %d", bulk, len(sessions))
	}
	if n := len(sink.committed); n != 0 {
		t.Errorf("Committed got %d events; want none (the store wrote none)", n)
	}
}

// TestStore_RevokeSubjectBatchKeepsSkewedSession: a session stamped as
// created after the walk's at (by a server whose clock runs ahead) but
// present before the walk began is revoked by it. The try that revokes a
// prepared batch takes only sessions created by the latest of them, and it
// must not move the position past a live session it leaves: the next
// batch goes on after the position, and that session would outlive the
// walk.
func TestStore_RevokeSubjectBatchKeepsSkewedSession(t *testing.T) {
	eachBatching(t, func(t *testing.T, st *redisstore.Store, _ bool) {
		ctx := t.Context()
		t0 := now()
		at := t0.Add(time.Second)
		session := func(created time.Time, expires time.Duration) *sessiond.Session {
			s := newSession("carol", created)
			s.ExpiresAt = t0.Add(expires)
			if err := st.Create(ctx, s); err != nil {
				t.Fatal(err)
			}
			return s
		}
		// In the index's order: L0 … L2, the skewed one (the one more a
		// batch of 3 finds), then L4.
		var all []*sessiond.Session
		for i := range 3 {
			all = append(all, session(t0, 8*time.Hour+time.Duration(i)*time.Minute))
		}
		all = append(all, session(at.Add(time.Second), 8*time.Hour+3*time.Minute))
		all = append(all, session(t0, 8*time.Hour+4*time.Minute))
		revoked := func(revs []sessiond.Revocation, _ []sessiond.Client, _ bool) sessiond.ChangeRecords {
			return sessiond.ChangeRecords{}
		}
		got := map[sessiond.SessionID]bool{}
		cursor := ""
		for range 10 {
			revs, _, next, err := st.RevokeSubjectBatch(ctx, "carol", "", at, sessiond.ReasonAdmin, cursor, 3, revoked)
			if err != nil {
				t.Fatalf("RevokeSubjectBatch() = %v", err)
			}
			for _, r := range revs {
				got[r.SessionID] = true
			}
			if cursor = next; cursor == "" {
				break
			}
		}
		for i, s := range all {
			if !got[s.ID] {
				t.Errorf("session %d (created %v after at) not revoked by the walk", i, s.CreatedAt.Sub(at))
			}
		}
	})
}

// TestStore_KillSwitchSubjectsBounded: the kill switch with subjects
// (RevokeMatching{Subjects}) walks each subject's index in scripts of at
// most SubjectBatch sessions, as the scripts' own replies count them, and
// revokes exactly the sessions created before IssuedBefore of the
// subjects named, counting each once, with every one in Revocations: one
// script over a subject's whole index held Redis for seconds on a subject
// of 100,000. Many small subjects share scripts, a huge one spans many.
func TestStore_KillSwitchSubjectsBounded(t *testing.T) {
	eachBatching(t, func(t *testing.T, st *redisstore.Store, _ bool) { testKillSwitchSubjectsBounded(t, st) })
}

func testKillSwitchSubjectsBounded(t *testing.T, st *redisstore.Store) {
	var (
		mu      sync.Mutex
		scripts []int
	)
	redisstore.ObserveSubjectBatches(st, func(revoked int) {
		mu.Lock()
		defer mu.Unlock()
		scripts = append(scripts, revoked)
	})
	ctx := t.Context()
	t0 := now()
	huge := createSubject(t, st, "huge", 300, t0)
	var small []*sessiond.Session
	var subjects []string
	for i := range 40 {
		sub := fmt.Sprintf("small%d", i)
		subjects = append(subjects, sub)
		small = append(small, createSubject(t, st, sub, 3, t0)...)
	}
	// Created after the bound: live, and left so.
	late := createSubject(t, st, "huge", 5, t0.Add(2*time.Second))
	other := createSubject(t, st, "other", 4, t0)
	f := sessiond.RevokeFilter{Subjects: append([]string{"huge", "huge"}, subjects...), IssuedBefore: t0.Add(time.Second)}
	n, subs, err := st.RevokeMatching(ctx, f, t0.Add(3*time.Second), sessiond.ReasonIncident)
	want := len(huge) + len(small)
	if err != nil || n != want || len(subs) != 1+len(subjects) {
		t.Fatalf("RevokeMatching() = %d, %d subjects, %v; want %d, %d subjects", n, len(subs), err, want, 1+len(subjects))
	}
	mu.Lock()
	sum := 0
	for _, k := range scripts {
		sum += k
		if k > redisstore.SubjectBatch {
			t.Errorf("a script revoked %d sessions; want at most %d", k, redisstore.SubjectBatch)
		}
	}
	if sum != want || len(scripts) < (want+redisstore.SubjectBatch-1)/redisstore.SubjectBatch {
		t.Errorf("scripts revoked %v (%d in all); want %d, at most %d a script", scripts, sum, want, redisstore.SubjectBatch)
	}
	mu.Unlock()
	for _, group := range []struct {
		ss      []*sessiond.Session
		revoked bool
	}{{huge, true}, {small, true}, {late, false}, {other, false}} {
		for _, s := range group.ss {
			g, err := st.Get(ctx, s.ID)
			if err != nil || g.Revoked() != group.revoked {
				t.Fatalf("Get(%s of %s) = revoked %t, %v; want revoked %t", s.ID, s.Subject, g.Revoked(), err, group.revoked)
			}
		}
	}
	revs, err := st.Revocations(ctx, t0)
	if err != nil || len(revs) != want {
		t.Errorf("Revocations() = %d, %v; want %d", len(revs), err, want)
	}
	if n, _, err := st.RevokeMatching(ctx, f, t0.Add(4*time.Second), sessiond.ReasonIncident); err != nil || n != 0 {
		t.Errorf("RevokeMatching() again = %d, %v; want 0", n, err)
	}
}

// TestStore_KillSwitchSubjectsTakeTurns: a huge subject does not hold
// back the subjects that share its scripts (a round's bound of sessions
// is spent on the first subject of a script) until its walk ends: those a
// round did not reach go first in the next, so a kill switch stopped
// after its second script (a canceled context, a failure) has revoked
// the small subjects named after the huge one, as one script over every
// subject did.
func TestStore_KillSwitchSubjectsTakeTurns(t *testing.T) {
	eachBatching(t, func(t *testing.T, st *redisstore.Store, _ bool) { testKillSwitchSubjectsTakeTurns(t, st) })
}

func testKillSwitchSubjectsTakeTurns(t *testing.T, st *redisstore.Store) {
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	t0 := now()
	createSubject(t, st, "huge", 5*redisstore.SubjectBatch, t0)
	// Subjects of huge's slot, so that they share its scripts on a Cluster too.
	subjects := []string{"huge"}
	var small []*sessiond.Session
	for i := 0; len(subjects) < 6; i++ {
		sub := fmt.Sprintf("turn%d", i)
		if redisstore.SlotOf(sub) == redisstore.SlotOf("huge") {
			subjects = append(subjects, sub)
			small = append(small, createSubject(t, st, sub, 2, t0)...)
		}
	}
	var scripts atomic.Int32
	redisstore.ObserveSubjectBatches(st, func(int) {
		if scripts.Add(1) == 2 {
			cancel()
		}
	})
	_, _, err := st.RevokeMatching(ctx, sessiond.RevokeFilter{Subjects: subjects, IssuedBefore: t0.Add(time.Second)},
		t0.Add(2*time.Second), sessiond.ReasonIncident)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("RevokeMatching(canceled after its second script) = %v; want context.Canceled", err)
	}
	for _, s := range small {
		if g, err := st.Get(t.Context(), s.ID); err != nil || !g.Revoked() {
			t.Errorf("Get(%s of %s) = revoked %t, %v; want revoked by the second script", s.ID, s.Subject, g.Revoked(), err)
		}
	}
}

// TestManager_RevokeSubjectRecordCut: on a Cluster's path, a batch whose
// script committed but whose record step (the revocation index and the
// feed, in another slot) fails is revoked with its events stored: the
// walk stops with the error, and the batch counts (the caller is told, its
// events committed, its sessions noted), and the retry records it, so
// that other nodes find every revocation (Revocations, the feed).
func TestManager_RevokeSubjectRecordCut(t *testing.T) {
	t.Parallel()
	st := newStore(t, redisstore.Options{})
	redisstore.BatchBySlot(st)
	testRevokeSubjectRecordCut(t, st)
}

func testRevokeSubjectRecordCut(t *testing.T, st *redisstore.Store) {
	const n = 300
	ctx := t.Context()
	t0 := now()
	feed := make(chan sessiond.Revocation, 2*n)
	if err := st.SubscribeRevocations(ctx, func(r sessiond.Revocation) { feed <- r }, func() {}); err != nil {
		t.Fatalf("SubscribeRevocations() = %v", err)
	}
	sessions := createSubject(t, st, "hank", n, t0)
	sink := &carrySink{}
	m := batchManager(t, st, sink)
	redisstore.FailSubjectRecord(st, 2)
	got, err := m.RevokeSubject(ctx, "hank", "", sessiond.ReasonAdmin)
	if err == nil || !errors.Is(err, sessiond.ErrStoreUnavailable) {
		t.Fatalf("RevokeSubject() error = %v; want ErrStoreUnavailable", err)
	}
	revoked := 0
	for _, s := range sessions {
		g, err := st.Get(ctx, s.ID)
		if err != nil {
			t.Fatal(err)
		}
		if g.Revoked() {
			revoked++
		}
	}
	sink.mu.Lock()
	committed := len(ofType(sink.committed, sessiond.EventSessionRevoked))
	bulk := ofType(sink.recorded, sessiond.EventBulkRevoked)
	sink.mu.Unlock()
	if revoked != 2*redisstore.SubjectBatch || got != revoked || committed != revoked {
		t.Errorf("RevokeSubject() = %d, %d session.revoked committed, %d sessions revoked; want %d of each", got, committed, revoked, 2*redisstore.SubjectBatch)
	}
	if len(bulk) != 1 || bulk[0].Details["count"] != revoked {
		t.Errorf("bulk events recorded %+v; want one, count %d", bulk, revoked)
	}
	if got, err := m.RevokeSubject(ctx, "hank", "", sessiond.ReasonAdmin); err != nil || got != n-revoked {
		t.Fatalf("RevokeSubject() again = %d, %v; want %d", got, err, n-revoked)
	}
	revs, err := st.Revocations(ctx, t0)
	if err != nil || len(revs) != n {
		t.Errorf("Revocations() = %d, %v; want %d: every revocation recorded", len(revs), err, n)
	}
	heard := map[sessiond.SessionID]bool{}
	for len(heard) < n {
		select {
		case r := <-feed:
			heard[r.SessionID] = true
		case <-time.After(10 * time.Second):
			t.Fatalf("the feed published %d revocations; want %d", len(heard), n)
		}
	}
}

// TestStore_RevokeSubjectBatchForgedCursor: a cursor RevokeSubjectBatch did
// not return (a made-up position, which would skip the sessions before
// it, or one of another Store) is ErrInvalidArgument, and nothing
// changes: the cursor is signed with the store's own key.
func TestStore_RevokeSubjectBatchForgedCursor(t *testing.T) {
	t.Parallel()
	st := newStore(t, redisstore.Options{})
	ctx := t.Context()
	t0 := now()
	at := t0.Add(time.Second)
	sessions := createSubject(t, st, "ivan", 5, t0)
	_, _, cursor, err := st.RevokeSubjectBatch(ctx, "ivan", "", at, sessiond.ReasonAdmin, "", 1, nil)
	if err != nil || cursor == "" {
		t.Fatalf("RevokeSubjectBatch(limit 1) = cursor %q, %v; want a cursor", cursor, err)
	}
	body, _, _ := strings.Cut(cursor, ".")
	raw, err := base64.RawURLEncoding.DecodeString(body)
	var f []string
	if err != nil || json.Unmarshal(raw, &f) != nil || len(f) != 6 {
		t.Fatalf("cursor %q: %v; want base64 of a JSON array of 6", cursor, err)
	}
	// Past every session: the end bound as the position.
	f[1], f[2] = f[3], f[4]
	forgedJSON, _ := json.Marshal(f)
	forged := base64.RawURLEncoding.EncodeToString(forgedJSON)
	other := newStore(t, redisstore.Options{Prefix: redisstore.PrefixOf(st)})
	for _, tc := range []struct {
		name   string
		st     *redisstore.Store
		cursor string
	}{
		{"MadeUp", st, forged},
		{"MadeUpWithMAC", st, forged + cursor[len(body):]},
		{"AnotherStores", other, cursor},
	} {
		revs, _, next, err := tc.st.RevokeSubjectBatch(ctx, "ivan", "", at, sessiond.ReasonAdmin, tc.cursor, 5, nil)
		if !errors.Is(err, sessiond.ErrInvalidArgument) || len(revs) != 0 || next != "" {
			t.Errorf("%s: RevokeSubjectBatch = %d revoked, cursor %q, %v; want ErrInvalidArgument", tc.name, len(revs), next, err)
		}
	}
	revoked := 0
	for _, s := range sessions {
		if g, err := st.Get(ctx, s.ID); err != nil {
			t.Fatal(err)
		} else if g.Revoked() {
			revoked++
		}
	}
	if revoked != 1 {
		t.Errorf("%d sessions revoked; want the first batch's 1", revoked)
	}
}
