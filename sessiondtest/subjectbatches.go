package sessiondtest

import (
	"context"
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sessiond/sessiond"
)

// TestSubjectBatchRevoker checks a sessiond.SubjectBatchRevoker (a
// subject's sessions revoked a batch at a time, each batch with its
// records), failing at once if newStore's stores do not implement it.
// TestStore runs it when they do. The cases about records run when the
// store also writes change events (an EventLog and an Outbox whose
// WritesChangeEvents reports true) and are skipped otherwise.
//
// Beyond the doc comment, the suite pins down that a walk's batches never
// exceed limit and always return a client per revocation, that a cursor
// stays usable after the session it stopped at is deleted, that a cursor
// replayed after the walk revokes nothing again, and that a walk ends
// within about two calls per session the subject had when it began
// however many logins land during it.
func TestSubjectBatchRevoker(t *testing.T, newStore func(t *testing.T) sessiond.Store) {
	runSuite(t, newStore, []subtest[sessiond.SubjectBatchRevoker]{
		{"EveryBatchSize", batchEverySize},
		{"Continue", batchContinue},
		{"NoneLive", batchNoneLive},
		{"Records", batchRecordsCase},
		{"BadRecordsChangeNothing", batchBadRecords},
		{"Concurrent", batchConcurrent},
		{"LoginStorm", batchLoginStorm},
		{"BadInput", batchBadInput},
		{"CanceledContext", batchCanceled},
	})
}

// batchStep is what one call of a walk returned.
type batchStep struct {
	revs    []sessiond.Revocation
	clients []sessiond.Client
	next    string
}

// batchRevoked is a revoked func of RevokeSubjectBatch.
type batchRevoked = func([]sessiond.Revocation, []sessiond.Client, bool) sessiond.ChangeRecords

// walkFrom calls RevokeSubjectBatch from cursor until the cursor is "",
// at most maxSteps times, and returns each call's answer. It fails the
// test on an error, on a batch of more than limit sessions or with a
// client count that is not its revocations', and on a walk that does not
// end.
func walkFrom(t *testing.T, ctx context.Context, br sessiond.SubjectBatchRevoker, subject string, except sessiond.SessionID,
	when time.Time, cursor string, limit, maxSteps int, revoked batchRevoked) []batchStep {
	t.Helper()
	var steps []batchStep
	for range maxSteps {
		revs, clients, next, err := br.RevokeSubjectBatch(ctx, subject, except, when, sessiond.ReasonAdmin, cursor, limit, revoked)
		if err != nil {
			t.Fatalf("RevokeSubjectBatch(%.40q, cursor %q, limit %d) = %v; want nil", subject, cursor, limit, err)
		}
		if len(revs) > limit {
			t.Errorf("RevokeSubjectBatch(limit %d) revoked %d sessions", limit, len(revs))
		}
		if len(clients) != len(revs) {
			t.Errorf("RevokeSubjectBatch returned %d clients for %d revocations; want one each", len(clients), len(revs))
		}
		steps = append(steps, batchStep{revs, clients, next})
		if next == "" {
			return steps
		}
		cursor = next
	}
	t.Fatalf("a walk of %.40q with limit %d did not end in %d calls", subject, limit, maxSteps)
	return nil
}

// batchWalk is walkFrom the start.
func batchWalk(t *testing.T, f *fixture, br sessiond.SubjectBatchRevoker, subject string, except sessiond.SessionID,
	when time.Time, limit, maxSteps int, revoked batchRevoked) []batchStep {
	t.Helper()
	return walkFrom(t, f.ctx, br, subject, except, when, "", limit, maxSteps, revoked)
}

// revokedIn returns the revocations of steps, in order.
func revokedIn(steps []batchStep) []sessiond.Revocation {
	var out []sessiond.Revocation
	for _, s := range steps {
		out = append(out, s.revs...)
	}
	return out
}

// subjectWalk is a subject's sessions for a walk at when: live ones, each
// with its own client, created and expiring in different orders; the
// except; ended ones (revoked, past their absolute expiry, past their
// idle expiry); and a live session of another subject.
type subjectWalk struct {
	subject string
	when    time.Time
	live    []*sessiond.Session
	except  *sessiond.Session
	ended   []*sessiond.Session
	other   *sessiond.Session
}

// members is how many sessions the subject has, ended ones included.
func (w *subjectWalk) members() int { return len(w.live) + 1 + len(w.ended) }

// maxSteps bounds a walk of w with any limit: a call that revokes none
// still moves on.
func (w *subjectWalk) maxSteps() int { return 2*w.members() + 10 }

// newSubjectWalk creates a subjectWalk of n live sessions of subject (each
// changed by edit, if any, before it is created) at 10 minutes past t0.
func newSubjectWalk(f *fixture, subject string, n int, edit ...func(*sessiond.Session)) *subjectWalk {
	f.t.Helper()
	w := &subjectWalk{subject: subject, when: at(10 * time.Minute)}
	for i := range n {
		s := NewSession(subject, at(time.Duration(i)*time.Second))
		// Expiries in another order than creations.
		s.ExpiresAt = at(8*time.Hour - time.Duration((i*5)%n)*time.Minute)
		s.Client = sessiond.Client{IP: fmt.Sprintf("192.0.2.%d", i+1), UserAgent: fmt.Sprintf("agent/%d", i)}
		for _, e := range edit {
			e(s)
		}
		f.create(clone(s))
		w.live = append(w.live, s)
	}
	w.except = NewSession(subject, t0)
	f.create(clone(w.except))
	revoked := NewSession(subject, t0)
	revoked.RevokedAt, revoked.RevokeReason = at(time.Minute), sessiond.ReasonLogout
	expired := NewSession(subject, t0)
	expired.ExpiresAt = at(2 * time.Minute)
	expired.IdleExpiresAt = expired.ExpiresAt
	idle := NewSession(subject, t0)
	idle.IdleExpiresAt = w.when // not before when: over
	for _, s := range []*sessiond.Session{revoked, expired, idle} {
		f.create(clone(s))
		w.ended = append(w.ended, s)
	}
	w.other = NewSession("other-"+subject, t0)
	f.create(clone(w.other))
	return w
}

// check fails t unless revs are the live sessions, each once, revoked at
// w.when for admin with the client it was issued to (clients, in revs'
// order), and every session is stored as that says: the live ones
// revoked, the others as they were.
func (w *subjectWalk) check(t *testing.T, f *fixture, op string, revs []sessiond.Revocation, clients []sessiond.Client) {
	t.Helper()
	want := make([]sessiond.Revocation, len(w.live))
	byID := map[sessiond.SessionID]*sessiond.Session{}
	for i, s := range w.live {
		want[i] = revocation(s, w.when, sessiond.ReasonAdmin)
		byID[s.ID] = s
	}
	checkRevocations(t, op, revs, want)
	if clients != nil {
		for i, r := range revs {
			if s, ok := byID[r.SessionID]; ok && i < len(clients) && clients[i] != s.Client {
				t.Errorf("%s: client of %s = %+v; want %+v, the one it was issued to", op, r.SessionID, clients[i], s.Client)
			}
		}
	}
	for _, s := range w.live {
		want := clone(s)
		want.RevokedAt, want.RevokeReason = w.when, sessiond.ReasonAdmin
		f.wantSession(want)
	}
	f.wantSession(w.except)
	for _, s := range w.ended {
		f.wantSession(s)
	}
	f.wantSession(w.other)
}

// clientsIn returns the clients of steps, in order.
func clientsIn(steps []batchStep) []sessiond.Client {
	var out []sessiond.Client
	for _, s := range steps {
		out = append(out, s.clients...)
	}
	return out
}

// batchEverySize: walks with every limit from 1 to one past the live
// sessions (and one far past them) revoke every live session once, with
// its client, and leave the rest alone; no batch exceeds its limit; a walk
// again revokes nothing.
func batchEverySize(t *testing.T, f *fixture, br sessiond.SubjectBatchRevoker) {
	const n = 7
	for _, limit := range []int{1, 2, 3, 4, 5, 6, 7, 8, math.MaxInt32} {
		w := newSubjectWalk(f, fmt.Sprintf("alice-%d", limit), n)
		steps := batchWalk(t, f, br, w.subject, w.except.ID, w.when, limit, w.maxSteps(), nil)
		op := fmt.Sprintf("walk with limit %d", limit)
		w.check(t, f, op, revokedIn(steps), clientsIn(steps))
		full := 0
		for _, s := range steps {
			if len(s.revs) > 0 {
				full++
			}
		}
		if want := (n + min(limit, n) - 1) / min(limit, n); full < want {
			t.Errorf("%s: %d batches revoked sessions; want at least %d", op, full, want)
		}
		if again := revokedIn(batchWalk(t, f, br, w.subject, w.except.ID, w.when, limit, w.maxSteps(), nil)); len(again) != 0 {
			t.Errorf("%s, again: revoked %v; want none", op, again)
		}
	}
}

// batchContinue: a walk goes on from its cursor later, after the sessions
// its first batch revoked were deleted, and a cursor replayed once the
// walk is done revokes nothing.
func batchContinue(t *testing.T, f *fixture, br sessiond.SubjectBatchRevoker) {
	// Live at when, idle soon after it: DeleteExpired collects the ones
	// the first batch revokes; the others are touched past it.
	soon := at(11 * time.Minute)
	w := newSubjectWalk(f, "alice", 6, func(s *sessiond.Session) { s.IdleExpiresAt = soon })
	first, _, next, err := br.RevokeSubjectBatch(f.ctx, w.subject, w.except.ID, w.when, sessiond.ReasonAdmin, "", 1, nil)
	if err != nil {
		t.Fatalf("RevokeSubjectBatch(limit 1) = %v", err)
	}
	if next == "" {
		t.Fatalf("RevokeSubjectBatch(limit 1) of %d live sessions = %v, cursor \"\"; want a cursor to go on from", len(w.live), first)
	}
	gone := map[sessiond.SessionID]bool{}
	for _, r := range first {
		gone[r.SessionID] = true
	}
	var left []*sessiond.Session
	for _, s := range w.live {
		if gone[s.ID] {
			continue
		}
		if err := f.st.Touch(f.ctx, s.ID, w.when, soon.Add(time.Hour)); err != nil {
			t.Fatalf("Touch(%s) = %v", s.ID, err)
		}
		s.LastActiveAt, s.IdleExpiresAt = w.when, soon.Add(time.Hour)
		left = append(left, s)
	}
	if _, err := f.st.DeleteExpired(f.ctx, soon.Add(time.Minute), 1000); err != nil {
		t.Fatalf("DeleteExpired() = %v", err)
	}
	for id := range gone {
		f.wantGone(id)
	}
	// The ended sessions past their expiries went too; the revoked one stays.
	for _, s := range w.ended[1:] {
		f.wantGone(s.ID)
	}
	w.ended = w.ended[:1]

	rest := walkFrom(t, f.ctx, br, w.subject, w.except.ID, w.when, next, 2, w.maxSteps(), nil)
	w.live = left
	w.check(t, f, "a walk gone on from its cursor", revokedIn(rest), clientsIn(rest))

	replayed := walkFrom(t, f.ctx, br, w.subject, w.except.ID, w.when, next, 2, w.maxSteps(), nil)
	if got := revokedIn(replayed); len(got) != 0 {
		t.Errorf("the first cursor replayed after the walk revoked %v; want none", got)
	}
}

// batchNoneLive: a subject with no live session (or no session at all, or
// one a store may find hard to hold) is walked to the end revoking none,
// and revoked is never called.
func batchNoneLive(t *testing.T, f *fixture, br sessiond.SubjectBatchRevoker) {
	w := newSubjectWalk(f, "alice", 0)
	called := func(revs []sessiond.Revocation, _ []sessiond.Client, _ bool) sessiond.ChangeRecords {
		t.Errorf("revoked(%v) called with no live session to revoke", revs)
		return sessiond.ChangeRecords{}
	}
	for _, subject := range append([]string{w.subject}, unknownSubjects...) {
		for _, limit := range []int{1, 3} {
			if got := revokedIn(batchWalk(t, f, br, subject, w.except.ID, w.when, limit, w.maxSteps(), called)); len(got) != 0 {
				t.Errorf("walk of %.40q = %v; want none", subject, got)
			}
		}
	}
	w.check(t, f, "walk of no live session", nil, nil)
}

// batchRecordStore is what the records cases need: a store that writes a
// change's records with it and lets them be read back.
func batchRecordStore(t *testing.T, f *fixture) changeEventStore {
	t.Helper()
	st, ok := f.st.(changeEventStore)
	if !ok || !st.WritesChangeEvents() {
		t.Skip("the store does not write change events")
	}
	return st
}

// batchRecords returns the records of a batch of revs at tm: one
// session.revoked per revocation and, when it is the last (not more), the
// bulk event; each with one delivery.
func batchRecords(subject string, revs []sessiond.Revocation, more bool, tm time.Time) sessiond.ChangeRecords {
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
	if !more {
		add(newEvent(sessiond.EventBulkRevoked, subject, "", tm))
	}
	return out
}

// recordingWalk calls RevokeSubjectBatch from the start until the cursor
// is "", with records from batchRecords, and keeps what each batch's last
// call of revoked returned.
type recordingWalk struct {
	mu    sync.Mutex
	calls int                    // of revoked, in the current batch
	last  sessiond.ChangeRecords // what the current batch's last call returned
	revs  []sessiond.Revocation  // what it was called with
	more  bool
	empty bool // revoked was called with no revocation
}

func (r *recordingWalk) revoked(subject string, tm time.Time) batchRevoked {
	return func(revs []sessiond.Revocation, _ []sessiond.Client, more bool) sessiond.ChangeRecords {
		r.mu.Lock()
		defer r.mu.Unlock()
		if len(revs) == 0 {
			r.empty = true
		}
		r.calls++
		r.revs, r.more = slices.Clone(revs), more
		r.last = batchRecords(subject, revs, more, tm)
		return r.last
	}
}

// batchRecordsWalk walks w with limit, with records, and returns the
// records each batch stored (what its last call of revoked returned),
// checking that revoked is called for exactly the batches that revoke,
// with what they return.
func batchRecordsWalk(t *testing.T, f *fixture, br sessiond.SubjectBatchRevoker, w *subjectWalk, limit int) (stored []sessiond.ChangeRecords, revs []sessiond.Revocation) {
	t.Helper()
	rw := &recordingWalk{}
	fn := rw.revoked(w.subject, w.when)
	cursor := ""
	for range w.maxSteps() {
		rw.calls = 0
		got, _, next, err := br.RevokeSubjectBatch(f.ctx, w.subject, w.except.ID, w.when, sessiond.ReasonAdmin, cursor, limit, fn)
		if err != nil {
			t.Fatalf("RevokeSubjectBatch(limit %d) = %v", limit, err)
		}
		if rw.empty {
			t.Errorf("revoked was called with no revocation")
		}
		switch {
		case len(got) == 0:
			// revoked may have been called for sessions that then ended: nothing stored.
		case rw.calls == 0:
			t.Errorf("a batch revoked %v without calling revoked", got)
		default:
			if !slices.EqualFunc(got, rw.revs, func(a, b sessiond.Revocation) bool { return a.SessionID == b.SessionID }) {
				t.Errorf("a batch revoked %v; its last call of revoked had %v", got, rw.revs)
			}
			if rw.more != (next != "") {
				t.Errorf("a batch's last call of revoked said more=%t; the cursor it returned is %q", rw.more, next)
			}
			stored = append(stored, rw.last)
		}
		revs = append(revs, got...)
		if next == "" {
			return stored, revs
		}
		cursor = next
	}
	t.Fatalf("a walk with limit %d did not end in %d calls", limit, w.maxSteps())
	return nil, nil
}

// batchRecordsOf checks that exactly the records of stored are in st: each
// revoked session's one event, the bulk event of the batch that said it
// was the last (at most one), every delivery pending.
func batchRecordsOf(t *testing.T, f *fixture, st changeEventStore, w *subjectWalk, stored []sessiond.ChangeRecords, before int) int {
	t.Helper()
	want := map[sessiond.SessionID]sessiond.Event{}
	var bulk []sessiond.Event
	deliveries := 0
	for _, rec := range stored {
		deliveries += len(rec.Deliveries)
		for _, e := range rec.Events {
			if e.Type == sessiond.EventBulkRevoked {
				bulk = append(bulk, e)
				continue
			}
			if _, dup := want[e.SessionID]; dup {
				t.Errorf("session %s in two stored batches", e.SessionID)
			}
			want[e.SessionID] = e
		}
	}
	for _, s := range w.live {
		e, ok := want[s.ID]
		if !ok {
			t.Errorf("no batch stored records for revoked session %s", s.ID)
			continue
		}
		wantRecords(t, f, st, "revoked session", s.ID, sessiond.ChangeRecords{Events: []sessiond.Event{e}})
	}
	for _, s := range append([]*sessiond.Session{w.except, w.other}, w.ended...) {
		if events, _, err := st.QueryEvents(f.ctx, sessiond.EventQuery{SessionID: s.ID}); err != nil || len(events) != 0 {
			t.Errorf("session %s left alone has events %v, %v", s.ID, eventIDs(events), err)
		}
	}
	if len(bulk) > 1 {
		t.Errorf("%d batches stored the bulk event; want at most the last", len(bulk))
	}
	got, _, err := st.QueryEvents(f.ctx, sessiond.EventQuery{Subject: w.subject, Type: sessiond.EventBulkRevoked})
	if err != nil || len(got) != len(bulk) {
		t.Errorf("bulk events stored = %v, %v; want %d", eventIDs(got), err, len(bulk))
	}
	ds, err := st.ListDeliveries(f.ctx, sessiond.DeliveryPending, 1000)
	if err != nil || len(ds) != before+deliveries {
		t.Errorf("pending deliveries = %d, %v; want %d before and the %d the stored batches carried", len(ds), err, before, deliveries)
	}
	return before + deliveries
}

// batchRecordsCase: each batch that revokes stores the records its last call
// of revoked returned, with it, and none other does; each revoked session
// has one event, whatever the limit.
func batchRecordsCase(t *testing.T, f *fixture, br sessiond.SubjectBatchRevoker) {
	st := batchRecordStore(t, f)
	pending := 0
	for _, limit := range []int{1, 3, 64} {
		w := newSubjectWalk(f, fmt.Sprintf("alice-%d", limit), 7)
		stored, revs := batchRecordsWalk(t, f, br, w, limit)
		w.check(t, f, fmt.Sprintf("walk with records, limit %d", limit), revs, nil)
		pending = batchRecordsOf(t, f, st, w, stored, pending)
	}
}

// batchBadRecords: records the store refuses fail the batch with
// ErrInvalidArgument and change nothing: no session revoked, no record.
func batchBadRecords(t *testing.T, f *fixture, br sessiond.SubjectBatchRevoker) {
	st := batchRecordStore(t, f)
	for _, tc := range []struct {
		name string
		edit func(rec *sessiond.ChangeRecords)
	}{
		{"EventWithoutID", func(rec *sessiond.ChangeRecords) { rec.Events[0].ID = "" }},
		{"DetailsNotJSON", func(rec *sessiond.ChangeRecords) { rec.Events[0].Details = map[string]any{"c": make(chan int)} }},
		{"DeliveryWithoutID", func(rec *sessiond.ChangeRecords) { rec.Deliveries[0].ID = "" }},
		{"DeliveryNotPending", func(rec *sessiond.ChangeRecords) { rec.Deliveries[0].State = sessiond.DeliveryDead }},
	} {
		w := newSubjectWalk(f, "carol-"+tc.name, 3)
		_, _, _, err := br.RevokeSubjectBatch(f.ctx, w.subject, w.except.ID, w.when, sessiond.ReasonAdmin, "", 2,
			func(revs []sessiond.Revocation, _ []sessiond.Client, more bool) sessiond.ChangeRecords {
				rec := batchRecords(w.subject, revs, more, w.when)
				tc.edit(&rec)
				return rec
			})
		wantErr(t, tc.name+": RevokeSubjectBatch", err, sessiond.ErrInvalidArgument)
		for _, s := range w.live {
			f.wantSession(s)
		}
		if events, _, err := st.QueryEvents(f.ctx, sessiond.EventQuery{Subject: w.subject}); err != nil || len(events) != 0 {
			t.Errorf("%s: events = %v, %v; want none", tc.name, eventIDs(events), err)
		}
	}
	if ds, err := st.ListDeliveries(f.ctx, sessiond.DeliveryPending, 100); err != nil || len(ds) != 0 {
		t.Errorf("refused batches left deliveries %v, %v; want none", deliveryIDs(ds), err)
	}
}

// batchConcurrent: two walks of one subject at once, with records when
// the store writes them, while logins of the subject and revocations of
// some of its sessions land between their batches. No session is revoked
// twice: each is stored with the time of the walk that returned it, and
// has that walk's one event. Every session live for the whole walks is
// revoked by one of them, and what each returned is exactly what is
// stored with its time.
func batchConcurrent(t *testing.T, f *fixture, br sessiond.SubjectBatchRevoker) {
	const n = 40
	st, withRecords := f.st.(changeEventStore)
	withRecords = withRecords && st.WritesChangeEvents()
	w := newSubjectWalk(f, "alice", n)
	victims := map[sessiond.SessionID]bool{}
	for _, s := range w.live[:8] {
		victims[s.ID] = true
	}
	revokedAt := w.when.Add(-time.Minute) // the single revocations'
	type walker struct {
		at     time.Time
		limit  int
		revs   []sessiond.Revocation
		logins []*sessiond.Session
		rec    *recordingWalk
		stored map[sessiond.SessionID]sessiond.Event
		err    error
	}
	walkers := []*walker{
		{at: w.when, limit: 3, rec: &recordingWalk{}, stored: map[sessiond.SessionID]sessiond.Event{}},
		{at: w.when.Add(time.Second), limit: 4, rec: &recordingWalk{}, stored: map[sessiond.SessionID]sessiond.Event{}},
	}
	var victimList []sessiond.SessionID
	for id := range victims {
		victimList = append(victimList, id)
	}
	var wg sync.WaitGroup
	start := make(chan struct{})
	for k, wk := range walkers {
		wg.Go(func() {
			<-start
			var fn batchRevoked
			if withRecords {
				fn = wk.rec.revoked(w.subject, wk.at)
			}
			cursor := ""
			for step := 0; ; step++ {
				if step > 4*w.members()+40 {
					wk.err = fmt.Errorf("walk did not end")
					return
				}
				wk.rec.calls = 0
				revs, _, next, err := br.RevokeSubjectBatch(f.ctx, w.subject, w.except.ID, wk.at, sessiond.ReasonAdmin, cursor, wk.limit, fn)
				if err != nil {
					wk.err = err
					return
				}
				wk.revs = append(wk.revs, revs...)
				if withRecords && len(revs) > 0 {
					for _, e := range wk.rec.last.Events {
						if e.Type == sessiond.EventSessionRevoked {
							wk.stored[e.SessionID] = e
						}
					}
				}
				if next == "" {
					return
				}
				cursor = next
				// Between batches: a login of the subject (some expiring
				// before the sessions walked, some after) and, from the
				// first walker, a single revocation.
				s := NewSession(w.subject, at(time.Duration(step)*time.Second))
				s.ExpiresAt = at(8*time.Hour - time.Duration((step*7+k*13)%(3*n)-n)*time.Minute)
				if err := f.st.Create(f.ctx, clone(s)); err != nil {
					wk.err = err
					return
				}
				wk.logins = append(wk.logins, s)
				if k == 0 && step < len(victimList) {
					if _, err := f.st.Revoke(f.ctx, victimList[step], revokedAt, sessiond.ReasonLogout); err != nil {
						wk.err = err
						return
					}
				}
			}
		})
	}
	close(start)
	wg.Wait()
	for k, wk := range walkers {
		if wk.err != nil {
			t.Fatalf("walker %d: %v", k, wk.err)
		}
		if wk.rec.empty {
			t.Errorf("walker %d: revoked called with no revocation", k)
		}
	}
	// Every session of the subject, and who revoked it.
	all := slices.Clone(w.live)
	for _, wk := range walkers {
		all = append(all, wk.logins...)
	}
	returned := map[sessiond.SessionID]int{} // walker index + 1
	for k, wk := range walkers {
		for _, r := range wk.revs {
			if prev := returned[r.SessionID]; prev != 0 {
				t.Errorf("session %s revoked by walker %d and walker %d", r.SessionID, prev-1, k)
			}
			returned[r.SessionID] = k + 1
			if !r.RevokedAt.Equal(wk.at) || r.Reason != sessiond.ReasonAdmin || r.Subject != w.subject {
				t.Errorf("walker %d returned %+v; want it revoked at %v for admin", k, r, wk.at)
			}
		}
	}
	initial := map[sessiond.SessionID]bool{}
	for _, s := range w.live {
		initial[s.ID] = true
	}
	counts := make([]int, len(walkers))
	for _, s := range all {
		got := f.get(s.ID)
		k := returned[s.ID] - 1
		switch {
		case k >= 0:
			if !got.RevokedAt.Equal(walkers[k].at) || got.RevokeReason != sessiond.ReasonAdmin {
				t.Errorf("session %s returned by walker %d is stored revoked at %v for %q; want %v, admin", s.ID, k, got.RevokedAt, got.RevokeReason, walkers[k].at)
			}
		case victims[s.ID]:
			if !got.RevokedAt.Equal(revokedAt) {
				t.Errorf("session %s revoked alone is stored revoked at %v; want %v (no walker returned it)", s.ID, got.RevokedAt, revokedAt)
			}
		case initial[s.ID]:
			t.Errorf("session %s, live for the whole walks, was revoked by neither (stored revoked at %v)", s.ID, got.RevokedAt)
		}
		for k, wk := range walkers {
			if got.RevokedAt.Equal(wk.at) {
				counts[k]++
			}
		}
		if withRecords {
			events, _, err := st.QueryEvents(f.ctx, sessiond.EventQuery{SessionID: s.ID})
			if err != nil {
				t.Fatal(err)
			}
			switch {
			case k >= 0:
				if e, ok := walkers[k].stored[s.ID]; len(events) != 1 || !ok || events[0].ID != e.ID {
					t.Errorf("session %s revoked by walker %d has events %v; want that walk's one", s.ID, k, eventIDs(events))
				}
			case len(events) != 0:
				t.Errorf("session %s no walker revoked has events %v; want none", s.ID, eventIDs(events))
			}
		}
	}
	for k, wk := range walkers {
		if counts[k] != len(wk.revs) {
			t.Errorf("walker %d returned %d revocations; %d sessions are stored with its time", k, len(wk.revs), counts[k])
		}
	}
	f.wantSession(w.except)
	f.wantSession(w.other)
}

// batchLoginStorm: a subject that logs in again between every two
// batches of a walk, each login outliving every session before it, cannot
// hold the walk off: it ends, and revokes every session there before it.
func batchLoginStorm(t *testing.T, f *fixture, br sessiond.SubjectBatchRevoker) {
	w := newSubjectWalk(f, "alice", 6)
	cursor, steps := "", []batchStep(nil)
	for i := range w.maxSteps() {
		revs, clients, next, err := br.RevokeSubjectBatch(f.ctx, w.subject, w.except.ID, w.when, sessiond.ReasonAdmin, cursor, 1, nil)
		if err != nil {
			t.Fatalf("RevokeSubjectBatch() = %v", err)
		}
		steps = append(steps, batchStep{revs, clients, next})
		if next == "" {
			var logins []sessiond.SessionID
			for _, r := range revokedIn(steps) {
				if !slices.ContainsFunc(w.live, func(s *sessiond.Session) bool { return s.ID == r.SessionID }) {
					logins = append(logins, r.SessionID)
				}
			}
			all := revokedIn(steps)
			var ours []sessiond.Revocation
			for _, r := range all {
				if !slices.Contains(logins, r.SessionID) {
					ours = append(ours, r)
				}
			}
			w.check(t, f, "a walk under a login storm", ours, nil)
			return
		}
		cursor = next
		s := NewSession(w.subject, w.when.Add(-time.Duration(i+1)*time.Second))
		s.ExpiresAt = at(9*time.Hour + time.Duration(i)*time.Minute)
		f.create(s)
	}
	t.Fatalf("a walk with a login between every two batches did not end in %d calls", w.maxSteps())
}

// batchBadInput: a limit below 1 and a cursor the store did not return
// for the subject (garbage, oversized, another subject's) are
// ErrInvalidArgument, and nothing changes or is recorded.
func batchBadInput(t *testing.T, f *fixture, br sessiond.SubjectBatchRevoker) {
	w := newSubjectWalk(f, "alice", 3)
	bob := newSubjectWalk(f, "bob", 2)
	_, _, bobCursor, err := br.RevokeSubjectBatch(f.ctx, bob.subject, "", bob.when, sessiond.ReasonAdmin, "", 1, nil)
	if err != nil || bobCursor == "" {
		t.Fatalf("RevokeSubjectBatch(bob, limit 1) = cursor %q, %v; want a cursor (two live sessions)", bobCursor, err)
	}
	called := func(revs []sessiond.Revocation, _ []sessiond.Client, _ bool) sessiond.ChangeRecords {
		t.Errorf("revoked(%v) called for input the store refuses", revs)
		return sessiond.ChangeRecords{}
	}
	for _, tc := range []struct {
		name   string
		cursor string
		limit  int
	}{
		{"ZeroLimit", "", 0},
		{"NegativeLimit", "", -1},
		{"MinLimit", "", math.MinInt},
		{"Garbage", "garbage", 1},
		{"NotText", "\x00\xff\xfe", 1},
		{"Oversized", strings.Repeat("A", 1<<16), 1},
		{"AnotherSubjects", bobCursor, 1},
	} {
		for _, fn := range []batchRevoked{nil, called} {
			revs, _, next, err := br.RevokeSubjectBatch(f.ctx, w.subject, w.except.ID, w.when, sessiond.ReasonAdmin, tc.cursor, tc.limit, fn)
			wantErr(t, tc.name+": RevokeSubjectBatch", err, sessiond.ErrInvalidArgument)
			if len(revs) != 0 || next != "" {
				t.Errorf("%s: RevokeSubjectBatch = %v, cursor %q; want none", tc.name, revs, next)
			}
		}
	}
	for _, s := range append(append(slices.Clone(w.live), w.except, w.other), w.ended...) {
		f.wantSession(s) // unchanged
	}
	if st, ok := f.st.(changeEventStore); ok {
		if events, _, err := st.QueryEvents(f.ctx, sessiond.EventQuery{Subject: w.subject}); err != nil || len(events) != 0 {
			t.Errorf("events = %v, %v; want none", eventIDs(events), err)
		}
	}
}

// batchCanceled: a canceled context fails the call, and nothing is
// revoked.
func batchCanceled(t *testing.T, f *fixture, br sessiond.SubjectBatchRevoker) {
	w := newSubjectWalk(f, "alice", 2)
	ctx, cancel := context.WithCancel(f.ctx)
	cancel()
	if revs, _, _, err := br.RevokeSubjectBatch(ctx, w.subject, w.except.ID, w.when, sessiond.ReasonAdmin, "", 5, nil); err == nil {
		t.Errorf("RevokeSubjectBatch(canceled context) = %v, nil; want an error", revs)
	}
	for _, s := range w.live {
		f.wantSession(s)
	}
}
