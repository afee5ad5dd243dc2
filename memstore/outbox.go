package memstore

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/sessiond/sessiond"
)

var (
	_ sessiond.Outbox       = (*Store)(nil)
	_ sessiond.OutboxFencer = (*Store)(nil)
)

func cloneDelivery(d *sessiond.Delivery) sessiond.Delivery {
	c := *d
	c.Payload = cloneBytes(d.Payload)
	return c
}

// EnqueueDeliveries stores pending deliveries; an ID that exists already
// (or earlier in ds) is skipped. An empty State means pending.
// ErrInvalidArgument, and nothing stored, if a delivery has no ID or
// another State.
func (s *Store) EnqueueDeliveries(ctx context.Context, ds ...sessiond.Delivery) error {
	const op = "enqueue deliveries"
	if err := s.lock(ctx, op, sessiond.CheckEnqueue(ds)); err != nil {
		return err
	}
	defer s.mu.Unlock()
	s.enqueue(ds)
	return nil
}

// enqueue stores pending deliveries, skipping IDs already stored. s.mu is
// held.
func (s *Store) enqueue(ds []sessiond.Delivery) {
	for _, d := range ds {
		if _, ok := s.deliveries[d.ID]; ok {
			continue
		}
		c := cloneDelivery(&d)
		c.State = sessiond.DeliveryPending
		s.deliveries[d.ID] = &c
	}
}

// ClaimDeliveries returns up to limit pending deliveries due at now (their
// NextAttemptAt at or before it), longest due first, with NextAttemptAt
// moved to now+lease. ErrInvalidArgument if limit is not
// positive or lease is under sessiond.MinClaimLease.
func (s *Store) ClaimDeliveries(ctx context.Context, now time.Time, limit int, lease time.Duration) ([]sessiond.Delivery, error) {
	const op = "claim deliveries"
	if err := s.lock(ctx, op, sessiond.CheckLimit(limit), sessiond.CheckLease(lease)); err != nil {
		return nil, err
	}
	defer s.mu.Unlock()
	due := s.pick(limit, func(d *sessiond.Delivery) bool {
		return d.State == sessiond.DeliveryPending && !d.NextAttemptAt.After(now)
	}, func(a, b *sessiond.Delivery) int { // longest due first
		return cmp.Or(a.NextAttemptAt.Compare(b.NextAttemptAt), cmp.Compare(a.ID, b.ID))
	})
	for _, d := range due {
		d.NextAttemptAt = now.Add(lease)
	}
	return cloneDeliveries(due), nil
}

// FinishDelivery records an attempt's outcome; see sessiond.Outbox.
// ErrNotFound if id is unknown, ErrInvalidArgument if state is not one of
// the three.
func (s *Store) FinishDelivery(ctx context.Context, id string, state sessiond.DeliveryState, attempts int, next time.Time, lastErr string, at time.Time) error {
	const op = "finish delivery"
	if err := s.lock(ctx, op, state.Validate()); err != nil {
		return err
	}
	defer s.mu.Unlock()
	d, ok := s.deliveries[id]
	if !ok {
		return fmt.Errorf("memstore: %s: %w", op, sessiond.ErrNotFound)
	}
	d.State, d.Attempts, d.NextAttemptAt, d.LastError, d.UpdatedAt = state, attempts, next, lastErr, at
	return nil
}

// FinishClaimed records an attempt's outcome if claimed's claim still
// holds the delivery; see sessiond.OutboxFencer. ErrConflict if not.
func (s *Store) FinishClaimed(ctx context.Context, claimed sessiond.Delivery, state sessiond.DeliveryState, attempts int, next time.Time, lastErr string, at time.Time) error {
	const op = "finish claimed delivery"
	if err := s.lock(ctx, op, state.Validate()); err != nil {
		return err
	}
	defer s.mu.Unlock()
	d, ok := s.deliveries[claimed.ID]
	if !ok {
		return fmt.Errorf("memstore: %s: %w", op, sessiond.ErrNotFound)
	}
	if d.State != sessiond.DeliveryPending || !d.NextAttemptAt.Equal(claimed.NextAttemptAt) || d.Attempts != claimed.Attempts {
		return fmt.Errorf("memstore: %s: %w: %s is no longer held by this claim", op, sessiond.ErrConflict, claimed.ID)
	}
	d.State, d.Attempts, d.NextAttemptAt, d.LastError, d.UpdatedAt = state, attempts, next, lastErr, at
	return nil
}

// RetryDelivery moves a dead delivery back to pending; see sessiond.Outbox.
func (s *Store) RetryDelivery(ctx context.Context, id string, at time.Time) error {
	const op = "retry delivery"
	if err := s.lock(ctx, op); err != nil {
		return err
	}
	defer s.mu.Unlock()
	d, ok := s.deliveries[id]
	if !ok || d.State != sessiond.DeliveryDead {
		return fmt.Errorf("memstore: %s: %w: no dead delivery %q", op, sessiond.ErrNotFound, id)
	}
	d.State, d.Attempts, d.NextAttemptAt, d.CreatedAt, d.UpdatedAt = sessiond.DeliveryPending, 0, at, at, at
	return nil
}

// ListDeliveries returns up to limit deliveries in state, newest (by
// CreatedAt) first. ErrInvalidArgument if limit is not positive.
func (s *Store) ListDeliveries(ctx context.Context, state sessiond.DeliveryState, limit int) ([]sessiond.Delivery, error) {
	const op = "list deliveries"
	if err := s.rlock(ctx, op, sessiond.CheckLimit(limit)); err != nil {
		return nil, err
	}
	defer s.mu.RUnlock()
	return cloneDeliveries(s.pick(limit, func(d *sessiond.Delivery) bool { return d.State == state },
		func(a, b *sessiond.Delivery) int { // newest first
			return cmp.Or(b.CreatedAt.Compare(a.CreatedAt), cmp.Compare(b.ID, a.ID))
		})), nil
}

// CountDeliveries counts deliveries in state.
func (s *Store) CountDeliveries(ctx context.Context, state sessiond.DeliveryState) (int, error) {
	if err := s.rlock(ctx, "count deliveries"); err != nil {
		return 0, err
	}
	defer s.mu.RUnlock()
	n := 0
	for _, d := range s.deliveries {
		if d.State == state {
			n++
		}
	}
	return n, nil
}

// DeleteDeliveriesBefore deletes up to limit delivered or dead deliveries
// whose UpdatedAt is before before, and returns how many.
// ErrInvalidArgument if limit is not positive.
func (s *Store) DeleteDeliveriesBefore(ctx context.Context, before time.Time, limit int) (int, error) {
	const op = "delete deliveries"
	if err := s.lock(ctx, op, sessiond.CheckLimit(limit)); err != nil {
		return 0, err
	}
	defer s.mu.Unlock()
	n := 0
	for id, d := range s.deliveries {
		if n == limit {
			break
		}
		if d.State != sessiond.DeliveryPending && d.UpdatedAt.Before(before) {
			delete(s.deliveries, id)
			n++
		}
	}
	return n, nil
}

// pick returns the first limit deliveries that keep selects, in order.
func (s *Store) pick(limit int, keep func(*sessiond.Delivery) bool, order func(a, b *sessiond.Delivery) int) []*sessiond.Delivery {
	var out []*sessiond.Delivery
	for _, d := range s.deliveries {
		if keep(d) {
			out = append(out, d)
		}
	}
	slices.SortFunc(out, order)
	return out[:min(limit, len(out))]
}

func cloneDeliveries(ds []*sessiond.Delivery) []sessiond.Delivery {
	out := make([]sessiond.Delivery, len(ds))
	for i, d := range ds {
		out[i] = cloneDelivery(d)
	}
	return out
}
