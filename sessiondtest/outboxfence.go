package sessiondtest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/sessiond/sessiond"
)

// fencedOutbox is an outbox that fences outcomes by their claim.
type fencedOutbox interface {
	sessiond.Outbox
	sessiond.OutboxFencer
}

// TestOutboxFencer checks sessiond.OutboxFencer, failing at once if
// newStore's stores do not implement it with sessiond.Outbox. TestStore
// runs it when they do. Beyond the OutboxFencer doc comment it pins down:
//   - the fence is the claim, not the clock: a claim whose lease ran out
//     records its outcome while no other claim has taken the delivery;
//   - a claim taken again (the other claim still holding it, or its
//     outcome recorded), a delivery retried by an operator since, or one
//     whose outcome this claim recorded already is ErrConflict, and the
//     delivery keeps what the other write left;
//   - a claim differing in its lease end (by a microsecond) or its
//     attempts is not the claim; an unknown ID is ErrNotFound; a bad state
//     ErrInvalidArgument; a canceled context an error; none changes
//     anything.
func TestOutboxFencer(t *testing.T, newStore func(t *testing.T) sessiond.Store) {
	runSuite(t, newStore, []subtest[fencedOutbox]{
		{"HeldClaimFinishes", fenceHeldClaimFinishes},
		{"ReclaimedRefused", fenceReclaimedRefused},
		{"RetriedRefused", fenceRetriedRefused},
		{"FinishedOnce", fenceFinishedOnce},
		{"NotTheClaim", fenceNotTheClaim},
	})
}

// claimOne claims d (due) at now and returns it as claimed.
func claimOne(f *fixture, o sessiond.Outbox, d sessiond.Delivery, now time.Time, lease time.Duration) sessiond.Delivery {
	f.t.Helper()
	got := claim(f, o, now, 10, lease)
	if len(got) != 1 || got[0].ID != d.ID {
		f.t.Fatalf("ClaimDeliveries(%v) = %v; want only %s", now, deliveryIDs(got), d.ID)
	}
	return got[0]
}

func fenceHeldClaimFinishes(t *testing.T, f *fixture, o fencedOutbox) {
	const lease = time.Minute
	tests := []struct {
		name     string
		state    sessiond.DeliveryState
		attempts int
		next     time.Time
		lastErr  string
		finishAt time.Duration // after the claim; past the lease: nobody took it since
	}{
		{"delivered", sessiond.DeliveryDelivered, 1, time.Time{}, "", time.Second},
		{"retry", sessiond.DeliveryPending, 1, at(time.Hour), "HTTP 503 Service Unavailable", time.Second},
		{"dead", sessiond.DeliveryDead, 1, time.Time{}, "HTTP 410 Gone", time.Second},
		{"released", sessiond.DeliveryPending, 0, at(time.Minute), "", time.Second},
		{"after the lease", sessiond.DeliveryDelivered, 1, time.Time{}, "", 2 * lease},
	}
	for i, tt := range tests {
		d := newDelivery(t0)
		enqueue(f, o, d)
		now := at(time.Duration(i+1) * 10 * time.Minute)
		c := claimOne(f, o, d, now, lease)
		when := now.Add(tt.finishAt)
		if err := o.FinishClaimed(f.ctx, c, tt.state, tt.attempts, tt.next, tt.lastErr, when); err != nil {
			t.Errorf("%s: FinishClaimed(held claim) = %v; want nil", tt.name, err)
			continue
		}
		d.State, d.Attempts, d.NextAttemptAt, d.LastError, d.UpdatedAt = tt.state, tt.attempts, tt.next, tt.lastErr, when
		wantDelivery(f, o, d)
		if tt.state == sessiond.DeliveryPending {
			// Put back: claimed and finished again as any other.
			c = claimOne(f, o, d, tt.next, lease)
			if err := o.FinishClaimed(f.ctx, c, sessiond.DeliveryDelivered, tt.attempts+1, time.Time{}, "", tt.next); err != nil {
				t.Errorf("%s: FinishClaimed(claim after the put-back) = %v; want nil", tt.name, err)
			}
		}
	}
}

// fenceReclaimedRefused: A claims, its lease runs out, B claims; A's
// outcome is refused whatever B has done, and B's stays.
func fenceReclaimedRefused(t *testing.T, f *fixture, o fencedOutbox) {
	const lease = time.Minute
	type outcome struct {
		state    sessiond.DeliveryState
		attempts int
		next     time.Time
		lastErr  string
	}
	delivered := outcome{sessiond.DeliveryDelivered, 1, time.Time{}, ""}
	// Put back far past every case's claims, so that no case claims
	// another's delivery.
	retry := outcome{sessiond.DeliveryPending, 1, at(1000 * time.Hour), "HTTP 500 Internal Server Error"}
	dead := outcome{sessiond.DeliveryDead, 1, time.Time{}, "HTTP 410 Gone"}
	released := outcome{sessiond.DeliveryPending, 0, at(2000 * time.Hour), ""}
	tests := []struct {
		name string
		b    *outcome // B's, recorded before A's; nil: B still holds it
		a    outcome
	}{
		{"B delivered, A dead", &delivered, dead},
		{"B delivered, A released", &delivered, released},
		{"B retry, A delivered", &retry, delivered},
		{"B dead, A retry", &dead, retry},
		{"B released, A dead", &released, dead},
		{"B holds, A delivered", nil, delivered},
		{"B holds, A released", nil, released},
	}
	for i, tt := range tests {
		d := newDelivery(t0)
		enqueue(f, o, d)
		now := at(time.Duration(i+1) * 10 * time.Minute)
		a := claimOne(f, o, d, now, lease)
		b := claimOne(f, o, d, now.Add(lease), lease)
		want := d
		want.NextAttemptAt = b.NextAttemptAt
		bAt := now.Add(lease + time.Second)
		if tt.b != nil {
			if err := o.FinishClaimed(f.ctx, b, tt.b.state, tt.b.attempts, tt.b.next, tt.b.lastErr, bAt); err != nil {
				t.Fatalf("%s: B's FinishClaimed = %v; want nil", tt.name, err)
			}
			want.State, want.Attempts, want.NextAttemptAt, want.LastError, want.UpdatedAt = tt.b.state, tt.b.attempts, tt.b.next, tt.b.lastErr, bAt
		}
		err := o.FinishClaimed(f.ctx, a, tt.a.state, tt.a.attempts, tt.a.next, tt.a.lastErr, now.Add(lease+2*time.Second))
		wantErr(t, fmt.Sprintf("%s: FinishClaimed(A's claim, taken again by B)", tt.name), err, sessiond.ErrConflict)
		wantDelivery(f, o, want)
		if tt.b == nil {
			if err := o.FinishClaimed(f.ctx, b, sessiond.DeliveryDelivered, 1, time.Time{}, "", bAt); err != nil {
				t.Errorf("%s: B's FinishClaimed after A's refused one = %v; want nil", tt.name, err)
			}
		}
	}
}

// fenceRetriedRefused: A's claim is taken by B, B ends it dead, an
// operator retries it: A's late outcome is still refused (attempts are
// back at A's zero, the lease end is not A's).
func fenceRetriedRefused(t *testing.T, f *fixture, o fencedOutbox) {
	const lease = time.Minute
	d := newDelivery(t0)
	enqueue(f, o, d)
	now := at(time.Minute)
	a := claimOne(f, o, d, now, lease)
	b := claimOne(f, o, d, now.Add(lease), lease)
	if err := o.FinishClaimed(f.ctx, b, sessiond.DeliveryDead, 1, time.Time{}, "HTTP 410 Gone", now.Add(lease)); err != nil {
		t.Fatalf("B's FinishClaimed = %v; want nil", err)
	}
	retried := now.Add(2 * lease)
	if err := o.RetryDelivery(f.ctx, d.ID, retried); err != nil {
		t.Fatalf("RetryDelivery = %v; want nil", err)
	}
	err := o.FinishClaimed(f.ctx, a, sessiond.DeliveryDelivered, 1, time.Time{}, "", retried.Add(time.Second))
	wantErr(t, "FinishClaimed(A's claim, after B's dead and a retry)", err, sessiond.ErrConflict)
	want := d
	want.NextAttemptAt, want.LastError, want.CreatedAt, want.UpdatedAt = retried, "HTTP 410 Gone", retried, retried
	wantDelivery(f, o, want)
}

// fenceFinishedOnce: a claim records one outcome; a second write of the
// same claim (a retried call, a bug) is refused.
func fenceFinishedOnce(t *testing.T, f *fixture, o fencedOutbox) {
	d := newDelivery(t0)
	enqueue(f, o, d)
	c := claimOne(f, o, d, at(time.Minute), time.Minute)
	when := at(2 * time.Minute)
	if err := o.FinishClaimed(f.ctx, c, sessiond.DeliveryDelivered, 1, time.Time{}, "", when); err != nil {
		t.Fatalf("FinishClaimed = %v; want nil", err)
	}
	err := o.FinishClaimed(f.ctx, c, sessiond.DeliveryDead, 1, time.Time{}, "x", when.Add(time.Second))
	wantErr(t, "FinishClaimed(the same claim again)", err, sessiond.ErrConflict)
	d.State, d.Attempts, d.NextAttemptAt, d.UpdatedAt = sessiond.DeliveryDelivered, 1, time.Time{}, when
	wantDelivery(f, o, d)
}

// fenceNotTheClaim: what is not the claim ClaimDeliveries returned
// changes nothing.
func fenceNotTheClaim(t *testing.T, f *fixture, o fencedOutbox) {
	d := newDelivery(t0)
	d.Attempts = 2
	enqueue(f, o, d)
	c := claimOne(f, o, d, at(time.Minute), time.Minute)
	canceled, cancel := context.WithCancel(f.ctx)
	cancel()
	unknown := c
	unknown.ID = "msg_unknown"
	early, late, fewer := c, c, c
	early.NextAttemptAt = c.NextAttemptAt.Add(-time.Microsecond)
	late.NextAttemptAt = c.NextAttemptAt.Add(time.Microsecond)
	fewer.Attempts = 1
	when := at(90 * time.Second)
	tests := []struct {
		name    string
		ctx     context.Context
		claimed sessiond.Delivery
		state   sessiond.DeliveryState
		want    error // nil: any error
	}{
		{"lease end a µs early", f.ctx, early, sessiond.DeliveryDead, sessiond.ErrConflict},
		{"lease end a µs late", f.ctx, late, sessiond.DeliveryDead, sessiond.ErrConflict},
		{"other attempts", f.ctx, fewer, sessiond.DeliveryDead, sessiond.ErrConflict},
		{"unknown ID", f.ctx, unknown, sessiond.DeliveryDelivered, sessiond.ErrNotFound},
		{"bad state", f.ctx, c, "bogus", sessiond.ErrInvalidArgument},
		{"canceled context", canceled, c, sessiond.DeliveryDead, nil},
	}
	for _, tt := range tests {
		err := o.FinishClaimed(tt.ctx, tt.claimed, tt.state, 3, time.Time{}, "x", when)
		if tt.want == nil {
			if err == nil {
				t.Errorf("FinishClaimed(%s) = nil; want an error", tt.name)
			}
		} else {
			wantErr(t, fmt.Sprintf("FinishClaimed(%s)", tt.name), err, tt.want)
		}
	}
	d.NextAttemptAt = c.NextAttemptAt
	wantDelivery(f, o, d)
	if err := o.FinishClaimed(f.ctx, c, sessiond.DeliveryDelivered, 3, time.Time{}, "", when); err != nil {
		t.Errorf("FinishClaimed(the claim) after the refused calls = %v; want nil", err)
	}
}
