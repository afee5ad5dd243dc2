package sessiondtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/sessiond/sessiond"
)

// newDelivery returns a pending delivery created and due at created, with
// every field set.
func newDelivery(created time.Time) sessiond.Delivery {
	return sessiond.Delivery{
		ID:            "msg_" + string(sessiond.NewSessionID()),
		Endpoint:      "security-team",
		EventID:       sessiond.NewEventID(created),
		Payload:       []byte("{\"type\": \"session.revoked\",  \"data\":{\"z\":1,\"a\":\"\u00e9\"}}\n"),
		State:         sessiond.DeliveryPending,
		NextAttemptAt: created,
		CreatedAt:     created,
		UpdatedAt:     created,
	}
}

// checkDelivery reports every field of got that differs from want.
func checkDelivery(t *testing.T, op string, got, want sessiond.Delivery) {
	t.Helper()
	checkFields(t, op, got, want)
}

func deliveryIDs(ds []sessiond.Delivery) []string {
	return idsOf(ds, func(d sessiond.Delivery) string { return d.ID })
}

func enqueue(f *fixture, o sessiond.Outbox, ds ...sessiond.Delivery) {
	f.t.Helper()
	if err := o.EnqueueDeliveries(f.ctx, ds...); err != nil {
		f.t.Fatalf("EnqueueDeliveries(%d) = %v; want nil", len(ds), err)
	}
}

func claim(f *fixture, o sessiond.Outbox, now time.Time, limit int, lease time.Duration) []sessiond.Delivery {
	f.t.Helper()
	got, err := o.ClaimDeliveries(f.ctx, now, limit, lease)
	if err != nil {
		f.t.Fatalf("ClaimDeliveries(%v, %d, %v) = %v; want nil", now, limit, lease, err)
	}
	return got
}

func finish(f *fixture, o sessiond.Outbox, id string, state sessiond.DeliveryState, attempts int, next time.Time, lastErr string, when time.Time) {
	f.t.Helper()
	if err := o.FinishDelivery(f.ctx, id, state, attempts, next, lastErr, when); err != nil {
		f.t.Fatalf("FinishDelivery(%s, %s) = %v; want nil", id, state, err)
	}
}

// wantDelivery checks that the outbox holds want, found through
// ListDeliveries in want's state and in no other state.
func wantDelivery(f *fixture, o sessiond.Outbox, want sessiond.Delivery) {
	f.t.Helper()
	found := 0
	for _, state := range []sessiond.DeliveryState{sessiond.DeliveryPending, sessiond.DeliveryDelivered, sessiond.DeliveryDead} {
		ds, err := o.ListDeliveries(f.ctx, state, 1000)
		if err != nil {
			f.t.Fatalf("ListDeliveries(%s) = %v; want nil", state, err)
		}
		for _, d := range ds {
			if d.ID != want.ID {
				continue
			}
			found++
			if state != want.State {
				f.t.Errorf("delivery %s is listed as %s; want %s", want.ID, state, want.State)
			}
			checkDelivery(f.t, fmt.Sprintf("ListDeliveries(%s) entry %s", state, want.ID), d, want)
		}
	}
	if found != 1 {
		f.t.Errorf("delivery %s listed %d times; want once", want.ID, found)
	}
}

// TestOutbox checks sessiond.Outbox, failing at once if newStore's stores
// do not implement it. TestStore runs it when they do. Beyond the Outbox
// doc comments it pins down:
//   - EnqueueDeliveries fails with ErrInvalidArgument, storing nothing, if a
//     delivery has no ID or a State other than pending ("" means pending).
//   - ClaimDeliveries takes pending deliveries with NextAttemptAt at or
//     before now, ordered by NextAttemptAt then ID, and returns them with
//     the NextAttemptAt it set; limit must be positive and lease at least
//     a microsecond (sessiond.MinClaimLease): a shorter one would end, on a
//     store that keeps microseconds, when it began, and a second claim at
//     the same instant would take the delivery again.
//   - FinishDelivery fails with ErrInvalidArgument for a state that is not
//     one of the three; it sets State, Attempts, NextAttemptAt, LastError
//     and UpdatedAt as given.
//   - RetryDelivery keeps LastError, Endpoint and Payload, and sets
//     CreatedAt to the retry's time (a Retry starts the delivery's age
//     again: max_pending_age, a poll stream's queue), which ListDeliveries
//     then orders it by.
//   - ListDeliveries orders by CreatedAt, newest first, then ID descending.
//   - ListDeliveries and DeleteDeliveriesBefore fail with
//     ErrInvalidArgument if limit is not positive.
func TestOutbox(t *testing.T, newStore func(t *testing.T) sessiond.Store) {
	runSuite(t, newStore, []subtest[sessiond.Outbox]{
		{"RoundTrip", outboxRoundTrip},
		{"Claim", outboxClaim},
		{"ShortestLease", outboxShortestLease},
		{"Finish", outboxFinish},
		{"Retry", outboxRetry},
		{"ConcurrentRetry", outboxConcurrentRetry},
		{"ListAndCount", outboxListAndCount},
		{"DeleteDeliveriesBefore", outboxDeleteDeliveriesBefore},
		{"DuplicateIDSkipped", outboxDuplicateIDSkipped},
		{"BadInput", outboxBadInput},
		{"Copies", outboxCopies},
		{"ConcurrentClaim", outboxConcurrentClaim},
		{"CanceledContext", outboxCanceledContext},
	})
}

// outboxShortestLease: a lease of sessiond.MinClaimLease hides a claimed
// delivery from a second claim at the same instant, and ends a
// microsecond later.
func outboxShortestLease(t *testing.T, f *fixture, o sessiond.Outbox) {
	d := newDelivery(t0)
	enqueue(f, o, d)
	now := at(time.Minute)
	first := claim(f, o, now, 10, sessiond.MinClaimLease)
	if len(first) != 1 || !first[0].NextAttemptAt.Equal(now.Add(sessiond.MinClaimLease)) {
		t.Fatalf("ClaimDeliveries(lease %v) = %v (until %v); want %s until %v", sessiond.MinClaimLease, deliveryIDs(first), leaseEnds(first), d.ID, now.Add(sessiond.MinClaimLease))
	}
	if got := claim(f, o, now, 10, sessiond.MinClaimLease); len(got) != 0 {
		t.Errorf("second ClaimDeliveries at the same instant = %v; want none: the lease holds", deliveryIDs(got))
	}
	if got := claim(f, o, now.Add(sessiond.MinClaimLease), 10, time.Minute); len(got) != 1 {
		t.Errorf("ClaimDeliveries when the lease ends = %v; want %s", deliveryIDs(got), d.ID)
	}
}

// leaseEnds lists the NextAttemptAt of ds.
func leaseEnds(ds []sessiond.Delivery) []time.Time {
	out := make([]time.Time, len(ds))
	for i, d := range ds {
		out[i] = d.NextAttemptAt
	}
	return out
}

func outboxRoundTrip(t *testing.T, f *fixture, o sessiond.Outbox) {
	d := newDelivery(t0)
	d.NextAttemptAt = at(time.Minute)
	d.UpdatedAt = at(time.Second)
	sparse := sessiond.Delivery{ID: "msg_sparse", Endpoint: "ops", EventID: "evt_x", State: sessiond.DeliveryPending,
		NextAttemptAt: t0, CreatedAt: t0, UpdatedAt: t0}
	enqueue(f, o, d, sparse)
	wantDelivery(f, o, d)
	wantDelivery(f, o, sparse)
}

func outboxClaim(t *testing.T, f *fixture, o sessiond.Outbox) {
	now := at(10 * time.Minute)
	const lease = 30 * time.Second
	// Oldest due first: by NextAttemptAt, whatever the creation order.
	var due []sessiond.Delivery
	for i := range 4 {
		d := newDelivery(at(time.Duration(10-i) * time.Second))
		d.NextAttemptAt = at(time.Duration(i) * time.Minute)
		due = append(due, d)
	}
	atNow := newDelivery(t0) // due exactly now
	atNow.NextAttemptAt = now
	due = append(due, atNow)
	later := newDelivery(t0) // not due yet: due when the leases end
	later.NextAttemptAt = now.Add(lease)
	delivered, dead := newDelivery(t0), newDelivery(t0)
	enqueue(f, o, later, due[2], delivered, atNow, due[0], dead, due[3], due[1])
	finish(f, o, delivered.ID, sessiond.DeliveryDelivered, 1, t0, "", at(time.Second))
	finish(f, o, dead.ID, sessiond.DeliveryDead, 5, t0, "HTTP 500", at(time.Second))

	first := claim(f, o, now, 3, lease)
	if want := deliveryIDs(due[:3]); !slices.Equal(deliveryIDs(first), want) {
		t.Fatalf("ClaimDeliveries(now, 3) = %v; want the 3 due longest, in order: %v", deliveryIDs(first), want)
	}
	for i, d := range first {
		w := due[i]
		w.NextAttemptAt = now.Add(lease)
		checkDelivery(t, fmt.Sprintf("ClaimDeliveries[%d]", i), d, w)
	}
	second := claim(f, o, now, 10, lease)
	if want := deliveryIDs(due[3:]); !slices.Equal(deliveryIDs(second), want) {
		t.Fatalf("second ClaimDeliveries(now, 10) = %v; want only the unclaimed due ones: %v", deliveryIDs(second), want)
	}
	if got := claim(f, o, now.Add(lease-time.Microsecond), 10, lease); len(got) != 0 {
		t.Errorf("ClaimDeliveries within the lease = %v; want none", deliveryIDs(got))
	}
	// When the lease runs out, the claimed ones (and later) are due again.
	again := claim(f, o, now.Add(lease), 10, lease)
	if want := append(deliveryIDs(due), later.ID); !sameSet(deliveryIDs(again), want) {
		t.Errorf("ClaimDeliveries after the lease = %v; want %v", deliveryIDs(again), want)
	}
	for _, d := range again {
		if !d.NextAttemptAt.Equal(now.Add(2 * lease)) {
			t.Errorf("reclaimed %s NextAttemptAt = %v; want %v", d.ID, d.NextAttemptAt, now.Add(2*lease))
		}
	}
	d := delivered
	d.State, d.Attempts, d.NextAttemptAt, d.UpdatedAt = sessiond.DeliveryDelivered, 1, t0, at(time.Second)
	wantDelivery(f, o, d)
}

func outboxFinish(t *testing.T, f *fixture, o sessiond.Outbox) {
	ok, retry, dead := newDelivery(t0), newDelivery(t0), newDelivery(t0)
	enqueue(f, o, ok, retry, dead)
	claimed := claim(f, o, at(time.Minute), 10, time.Minute)
	if len(claimed) != 3 {
		t.Fatalf("ClaimDeliveries = %d; want 3", len(claimed))
	}
	when := at(90 * time.Second)
	next := at(time.Hour)
	finish(f, o, ok.ID, sessiond.DeliveryDelivered, 1, time.Time{}, "", when)
	finish(f, o, retry.ID, sessiond.DeliveryPending, 2, next, "HTTP 503 Service Unavailable", when)
	finish(f, o, dead.ID, sessiond.DeliveryDead, 8, time.Time{}, "dial tcp: connection refused", when)

	ok.State, ok.Attempts, ok.NextAttemptAt, ok.UpdatedAt = sessiond.DeliveryDelivered, 1, time.Time{}, when
	retry.State, retry.Attempts, retry.NextAttemptAt, retry.LastError, retry.UpdatedAt = sessiond.DeliveryPending, 2, next, "HTTP 503 Service Unavailable", when
	dead.State, dead.Attempts, dead.NextAttemptAt, dead.LastError, dead.UpdatedAt = sessiond.DeliveryDead, 8, time.Time{}, "dial tcp: connection refused", when
	for _, d := range []sessiond.Delivery{ok, retry, dead} {
		wantDelivery(f, o, d)
	}
	if got := claim(f, o, next.Add(-time.Microsecond), 10, time.Minute); len(got) != 0 {
		t.Errorf("ClaimDeliveries before the retry is due = %v; want none", deliveryIDs(got))
	}
	got := claim(f, o, next, 10, time.Minute)
	if !slices.Equal(deliveryIDs(got), []string{retry.ID}) {
		t.Errorf("ClaimDeliveries when the retry is due = %v; want only %s (delivered and dead are never claimed)", deliveryIDs(got), retry.ID)
	}

	err := o.FinishDelivery(f.ctx, "msg_unknown", sessiond.DeliveryDelivered, 1, time.Time{}, "", when)
	wantErr(t, "FinishDelivery(unknown ID)", err, sessiond.ErrNotFound)
	err = o.FinishDelivery(f.ctx, ok.ID, "bogus", 9, time.Time{}, "x", at(time.Hour))
	wantErr(t, "FinishDelivery(state bogus)", err, sessiond.ErrInvalidArgument)
	wantDelivery(f, o, ok)
}

// outboxRetry moves a dead delivery back to pending and refuses every
// other state, leaving those deliveries as they were.
func outboxRetry(t *testing.T, f *fixture, o sessiond.Outbox) {
	dead, held, done := newDelivery(t0), newDelivery(t0), newDelivery(t0)
	enqueue(f, o, dead, held, done)
	if got := claim(f, o, at(time.Minute), 10, time.Hour); len(got) != 3 {
		t.Fatalf("ClaimDeliveries = %d; want 3", len(got))
	}
	when := at(2 * time.Minute)
	finish(f, o, dead.ID, sessiond.DeliveryDead, 8, time.Time{}, "HTTP 500", when)
	finish(f, o, done.ID, sessiond.DeliveryDelivered, 1, time.Time{}, "", when)
	dead.State, dead.Attempts, dead.NextAttemptAt, dead.LastError, dead.UpdatedAt = sessiond.DeliveryDead, 8, time.Time{}, "HTTP 500", when
	done.State, done.Attempts, done.NextAttemptAt, done.UpdatedAt = sessiond.DeliveryDelivered, 1, time.Time{}, when
	held.NextAttemptAt = at(time.Minute).Add(time.Hour) // claimed: a dispatcher holds it

	retryAt := at(time.Hour)
	for _, d := range []sessiond.Delivery{held, done} {
		err := o.RetryDelivery(f.ctx, d.ID, retryAt)
		wantErr(t, "RetryDelivery("+string(d.State)+")", err, sessiond.ErrNotFound)
		wantDelivery(f, o, d)
	}
	wantErr(t, "RetryDelivery(unknown ID)", o.RetryDelivery(f.ctx, "msg_unknown", retryAt), sessiond.ErrNotFound)
	wantErr(t, "RetryDelivery(empty ID)", o.RetryDelivery(f.ctx, "", retryAt), sessiond.ErrNotFound)

	if err := o.RetryDelivery(f.ctx, dead.ID, retryAt); err != nil {
		t.Fatalf("RetryDelivery(dead) = %v; want nil", err)
	}
	dead.State, dead.Attempts, dead.NextAttemptAt, dead.CreatedAt, dead.UpdatedAt = sessiond.DeliveryPending, 0, retryAt, retryAt, retryAt
	wantDelivery(f, o, dead)
	// Listed by its new CreatedAt: before a delivery recorded between its
	// first record and the Retry.
	later := newDelivery(at(30 * time.Minute))
	later.NextAttemptAt = retryAt.Add(time.Hour)
	enqueue(f, o, later)
	if l, err := o.ListDeliveries(f.ctx, sessiond.DeliveryPending, 10); err != nil ||
		!slices.Equal(deliveryIDs(l), []string{dead.ID, later.ID, held.ID}) {
		t.Errorf("ListDeliveries(pending) after the retry = %v, %v; want %v (the retried one newest)", deliveryIDs(l), err, []string{dead.ID, later.ID, held.ID})
	}
	err := o.RetryDelivery(f.ctx, dead.ID, retryAt.Add(time.Second))
	wantErr(t, "RetryDelivery(retried already)", err, sessiond.ErrNotFound)
	wantDelivery(f, o, dead)
	if n, err := o.CountDeliveries(f.ctx, sessiond.DeliveryDead); err != nil || n != 0 {
		t.Errorf("CountDeliveries(dead) after the retry = %d, %v; want 0, nil", n, err)
	}
	if got := claim(f, o, retryAt.Add(-time.Microsecond), 10, time.Minute); len(got) != 0 {
		t.Errorf("ClaimDeliveries before the retry is due = %v; want none", deliveryIDs(got))
	}
	if got := claim(f, o, retryAt, 10, time.Minute); !slices.Equal(deliveryIDs(got), []string{dead.ID}) {
		t.Errorf("ClaimDeliveries when the retry is due = %v; want only %s", deliveryIDs(got), dead.ID)
	}
}

// outboxConcurrentRetry: operators retrying one dead delivery at once move
// it once, so the dispatcher sends it once.
func outboxConcurrentRetry(t *testing.T, f *fixture, o sessiond.Outbox) {
	const workers = 8
	d := newDelivery(t0)
	enqueue(f, o, d)
	claim(f, o, at(time.Minute), 1, time.Minute)
	finish(f, o, d.ID, sessiond.DeliveryDead, 3, time.Time{}, "timeout", at(time.Minute))
	var (
		wg sync.WaitGroup
		mu sync.Mutex
	)
	var wins, misses int
	start := make(chan struct{})
	for i := range workers {
		wg.Go(func() {
			<-start
			err := o.RetryDelivery(f.ctx, d.ID, at(time.Hour+time.Duration(i)*time.Second))
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				wins++
			case errors.Is(err, sessiond.ErrNotFound):
				misses++
			default:
				t.Errorf("RetryDelivery = %v; want nil or ErrNotFound", err)
			}
		})
	}
	close(start)
	wg.Wait()
	if wins != 1 || misses != workers-1 {
		t.Errorf("%d concurrent RetryDelivery: %d succeeded, %d ErrNotFound; want 1 and %d", workers, wins, misses, workers-1)
	}
}

func outboxListAndCount(t *testing.T, f *fixture, o sessiond.Outbox) {
	var pending, dead []sessiond.Delivery
	for i := range 5 {
		d := newDelivery(at(time.Duration(i) * time.Minute))
		// Newest first means by creation, not by next attempt or update.
		d.NextAttemptAt = at(time.Duration(100-i) * time.Minute)
		pending = append(pending, d)
	}
	for i := range 3 {
		d := newDelivery(at(time.Duration(i) * time.Second))
		dead = append(dead, d)
	}
	enqueue(f, o, pending[3], dead[1], pending[0], pending[4], dead[0], pending[2], dead[2], pending[1])
	for i, d := range dead {
		finish(f, o, d.ID, sessiond.DeliveryDead, 3, time.Time{}, "gone", at(time.Duration(10-i)*time.Hour))
	}
	for _, c := range []struct {
		state sessiond.DeliveryState
		limit int
		want  []sessiond.Delivery
	}{
		{sessiond.DeliveryPending, 10, []sessiond.Delivery{pending[4], pending[3], pending[2], pending[1], pending[0]}},
		{sessiond.DeliveryPending, 2, []sessiond.Delivery{pending[4], pending[3]}},
		{sessiond.DeliveryDead, 10, []sessiond.Delivery{dead[2], dead[1], dead[0]}},
		{sessiond.DeliveryDelivered, 10, nil},
	} {
		got, err := o.ListDeliveries(f.ctx, c.state, c.limit)
		if err != nil {
			t.Errorf("ListDeliveries(%s, %d) = %v; want nil", c.state, c.limit, err)
			continue
		}
		if !slices.Equal(deliveryIDs(got), deliveryIDs(c.want)) {
			t.Errorf("ListDeliveries(%s, %d) = %v; want newest first %v", c.state, c.limit, deliveryIDs(got), deliveryIDs(c.want))
		}
	}
	for _, c := range []struct {
		state sessiond.DeliveryState
		want  int
	}{{sessiond.DeliveryPending, 5}, {sessiond.DeliveryDead, 3}, {sessiond.DeliveryDelivered, 0}} {
		if n, err := o.CountDeliveries(f.ctx, c.state); n != c.want || err != nil {
			t.Errorf("CountDeliveries(%s) = %d, %v; want %d, nil", c.state, n, err, c.want)
		}
	}
	finish(f, o, pending[0].ID, sessiond.DeliveryDelivered, 1, time.Time{}, "", at(time.Hour))
	for _, c := range []struct {
		state sessiond.DeliveryState
		want  int
	}{{sessiond.DeliveryPending, 4}, {sessiond.DeliveryDelivered, 1}} {
		if n, err := o.CountDeliveries(f.ctx, c.state); n != c.want || err != nil {
			t.Errorf("after one delivery, CountDeliveries(%s) = %d, %v; want %d, nil", c.state, n, err, c.want)
		}
	}
	for _, limit := range []int{0, -1} {
		_, err := o.ListDeliveries(f.ctx, sessiond.DeliveryPending, limit)
		wantErr(t, fmt.Sprintf("ListDeliveries(limit %d)", limit), err, sessiond.ErrInvalidArgument)
	}
}

func outboxDeleteDeliveriesBefore(t *testing.T, f *fixture, o sessiond.Outbox) {
	before := at(time.Hour)
	var gone, kept []sessiond.Delivery
	add := func(state sessiond.DeliveryState, updated time.Time, keep bool) {
		d := newDelivery(t0)
		enqueue(f, o, d)
		if state != sessiond.DeliveryPending {
			finish(f, o, d.ID, state, 1, time.Time{}, "", updated)
		}
		d.State, d.UpdatedAt = state, updated
		if state != sessiond.DeliveryPending {
			d.Attempts, d.NextAttemptAt = 1, time.Time{}
		}
		if keep {
			kept = append(kept, d)
		} else {
			gone = append(gone, d)
		}
	}
	for i := range 3 {
		add(sessiond.DeliveryDelivered, before.Add(-time.Duration(i+1)*time.Microsecond), false)
		add(sessiond.DeliveryDead, before.Add(-time.Duration(i+1)*time.Minute), false)
	}
	add(sessiond.DeliveryDelivered, before, true) // not before `before`
	add(sessiond.DeliveryDead, before.Add(time.Minute), true)
	add(sessiond.DeliveryPending, t0, true) // pending is never deleted, however old
	const limit = 4
	counts := deleteBatches(t, fmt.Sprintf("DeleteDeliveriesBefore(%v, %d)", before, limit), func() (int, error) {
		return o.DeleteDeliveriesBefore(f.ctx, before, limit)
	})
	if !slices.Equal(counts, []int{4, 2, 0}) {
		t.Errorf("DeleteDeliveriesBefore(%v, %d) calls returned %v; want [4 2 0] (6 old delivered or dead)", before, limit, counts)
	}
	for _, d := range kept {
		wantDelivery(f, o, d)
	}
	var left []string
	for _, state := range []sessiond.DeliveryState{sessiond.DeliveryPending, sessiond.DeliveryDelivered, sessiond.DeliveryDead} {
		ds, _ := o.ListDeliveries(f.ctx, state, 100)
		left = append(left, deliveryIDs(ds)...)
	}
	if !sameSet(left, deliveryIDs(kept)) {
		t.Errorf("after DeleteDeliveriesBefore, the outbox holds %v; want %v", left, deliveryIDs(kept))
	}
	for _, limit := range []int{0, -1} {
		n, err := o.DeleteDeliveriesBefore(f.ctx, at(100*time.Hour), limit)
		if n != 0 || !errors.Is(err, sessiond.ErrInvalidArgument) {
			t.Errorf("DeleteDeliveriesBefore(limit %d) = %d, %v; want 0, ErrInvalidArgument", limit, n, err)
		}
	}
	if n, _ := o.CountDeliveries(f.ctx, sessiond.DeliveryDelivered); n != 1 {
		t.Errorf("after DeleteDeliveriesBefore with a bad limit, %d delivered; want 1", n)
	}
}

func outboxDuplicateIDSkipped(t *testing.T, f *fixture, o sessiond.Outbox) {
	d := newDelivery(t0)
	enqueue(f, o, d)
	finish(f, o, d.ID, sessiond.DeliveryDelivered, 1, time.Time{}, "", at(time.Minute))
	// A retried enqueue must not bring a delivered one back.
	again := newDelivery(at(time.Hour))
	again.ID = d.ID
	fresh, freshAgain := newDelivery(at(time.Second)), newDelivery(at(time.Hour))
	freshAgain.ID = fresh.ID
	enqueue(f, o, again, fresh, freshAgain)
	d.State, d.Attempts, d.NextAttemptAt, d.UpdatedAt = sessiond.DeliveryDelivered, 1, time.Time{}, at(time.Minute)
	wantDelivery(f, o, d)
	wantDelivery(f, o, fresh)
	if n, err := o.CountDeliveries(f.ctx, sessiond.DeliveryPending); n != 1 || err != nil {
		t.Errorf("CountDeliveries(pending) = %d, %v; want 1 (the fresh one, once)", n, err)
	}
}

func outboxBadInput(t *testing.T, f *fixture, o sessiond.Outbox) {
	noID := newDelivery(t0)
	noID.ID = ""
	wantErr(t, "EnqueueDeliveries(no ID)", o.EnqueueDeliveries(f.ctx, newDelivery(t0), noID), sessiond.ErrInvalidArgument)
	notPending := newDelivery(t0)
	notPending.State = sessiond.DeliveryDelivered
	wantErr(t, "EnqueueDeliveries(state delivered)", o.EnqueueDeliveries(f.ctx, notPending), sessiond.ErrInvalidArgument)
	if n, err := o.CountDeliveries(f.ctx, sessiond.DeliveryPending); n != 0 || err != nil {
		t.Errorf("after failed enqueues, CountDeliveries(pending) = %d, %v; want 0 (all or nothing)", n, err)
	}
	for _, c := range []struct {
		limit int
		lease time.Duration
	}{{0, time.Minute}, {-1, time.Minute}, {10, 0}, {10, -time.Second}, {10, time.Nanosecond}, {10, time.Microsecond - time.Nanosecond}} {
		_, err := o.ClaimDeliveries(f.ctx, t0, c.limit, c.lease)
		wantErr(t, fmt.Sprintf("ClaimDeliveries(limit %d, lease %v)", c.limit, c.lease), err, sessiond.ErrInvalidArgument)
	}
	// An empty State means pending.
	d := newDelivery(t0)
	d.State = ""
	enqueue(f, o, d)
	d.State = sessiond.DeliveryPending
	wantDelivery(f, o, d)
}

func outboxCopies(t *testing.T, f *fixture, o sessiond.Outbox) {
	d := newDelivery(t0)
	want := d
	want.Payload = bytes.Clone(d.Payload)
	enqueue(f, o, d)
	for i := range d.Payload {
		d.Payload[i] = 'X'
	}
	got := claim(f, o, t0, 1, time.Minute)
	if len(got) != 1 {
		t.Fatalf("ClaimDeliveries = %d; want 1", len(got))
	}
	for i := range got[0].Payload {
		got[0].Payload[i] = 'Y'
	}
	want.NextAttemptAt = t0.Add(time.Minute)
	wantDelivery(f, o, want)
	list, _ := o.ListDeliveries(f.ctx, sessiond.DeliveryPending, 1)
	if len(list) == 1 {
		for i := range list[0].Payload {
			list[0].Payload[i] = 'Z'
		}
	}
	wantDelivery(f, o, want)
}

func outboxConcurrentClaim(t *testing.T, f *fixture, o sessiond.Outbox) {
	const n, workers = 100, 10
	all := make([]sessiond.Delivery, n)
	for i := range all {
		all[i] = newDelivery(at(time.Duration(i) * time.Microsecond))
	}
	enqueue(f, o, all...)
	now := at(time.Minute)
	var mu sync.Mutex
	claims := make(map[string]int)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			<-start
			for {
				got, err := o.ClaimDeliveries(f.ctx, now, 3, time.Minute)
				if err != nil {
					t.Errorf("ClaimDeliveries = %v; want nil", err)
					return
				}
				if len(got) == 0 {
					return
				}
				mu.Lock()
				total := 0
				for _, d := range got {
					claims[d.ID]++
				}
				for _, c := range claims {
					total += c
				}
				mu.Unlock()
				if total > n {
					return // some were claimed twice: reported below
				}
			}
		})
	}
	close(start)
	wg.Wait()
	for _, d := range all {
		if c := claims[d.ID]; c != 1 {
			t.Errorf("delivery %s claimed %d times by %d concurrent workers; want exactly once", d.ID, c, workers)
		}
	}
	if len(claims) != n {
		t.Errorf("%d distinct deliveries claimed; want %d", len(claims), n)
	}
}

func outboxCanceledContext(t *testing.T, f *fixture, o sessiond.Outbox) {
	d := newDelivery(t0)
	enqueue(f, o, d)
	ctx, cancel := context.WithCancel(f.ctx)
	cancel()
	calls := []struct {
		name string
		call func() error
	}{
		{"EnqueueDeliveries", func() error { return o.EnqueueDeliveries(ctx, newDelivery(t0)) }},
		{"ClaimDeliveries", func() error { _, err := o.ClaimDeliveries(ctx, at(time.Hour), 10, time.Minute); return err }},
		{"FinishDelivery", func() error {
			return o.FinishDelivery(ctx, d.ID, sessiond.DeliveryDead, 9, time.Time{}, "x", at(time.Hour))
		}},
		{"RetryDelivery", func() error { return o.RetryDelivery(ctx, d.ID, at(time.Hour)) }},
		{"ListDeliveries", func() error { _, err := o.ListDeliveries(ctx, sessiond.DeliveryPending, 10); return err }},
		{"CountDeliveries", func() error { _, err := o.CountDeliveries(ctx, sessiond.DeliveryPending); return err }},
		{"DeleteDeliveriesBefore", func() error { _, err := o.DeleteDeliveriesBefore(ctx, at(time.Hour), 10); return err }},
	}
	for _, c := range calls {
		if err := c.call(); err == nil {
			t.Errorf("%s(canceled context) = nil error; want an error", c.name)
		}
	}
	wantDelivery(f, o, d)
	if n, _ := o.CountDeliveries(f.ctx, sessiond.DeliveryPending); n != 1 {
		t.Errorf("after calls with a canceled context, %d pending; want 1", n)
	}
}
