package pgstore

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/sessiond/sessiond"
)

var (
	_ sessiond.Outbox       = (*Store)(nil)
	_ sessiond.OutboxFencer = (*Store)(nil)
)

// EnqueueDeliveries stores pending deliveries in one statement; an ID that
// exists already is skipped, one repeated within ds is stored once, as
// first given. An empty State means pending. ErrInvalidArgument, and
// nothing stored, if a delivery has no ID, another State, or an ID,
// Endpoint or EventID that is not valid UTF-8 without NUL.
func (s *Store) EnqueueDeliveries(ctx context.Context, ds ...sessiond.Delivery) error {
	if s.closed.Load() {
		return errClosed
	}
	args, err := deliveryArgs(ds)
	return s.execInsert(ctx, "enqueue deliveries", s.q.enqueue, args, err)
}

// deliveryArgs are the arguments of enqueue for ds (nil when there is
// nothing to store). ErrInvalidArgument as EnqueueDeliveries.
func deliveryArgs(ds []sessiond.Delivery) ([]any, error) {
	var (
		ids, endpoints, eventIDs, lastErrs []string
		payloads                           [][]byte
		attempts                           []int64
		next, created, updated             []time.Time
		seen                               = make(map[string]bool, len(ds))
	)
	if err := sessiond.CheckEnqueue(ds); err != nil {
		return nil, err
	}
	for i, d := range ds {
		for _, f := range []struct{ field, v string }{{"id", d.ID}, {"endpoint", d.Endpoint}, {"event_id", d.EventID}} {
			if !validText(f.v) {
				return nil, textError(fmt.Sprintf("deliveries[%d].%s", i, f.field))
			}
		}
		if seen[d.ID] {
			continue
		}
		seen[d.ID] = true
		payload := d.Payload
		if payload == nil {
			payload = []byte{} // the column is NOT NULL
		}
		ids, endpoints, eventIDs = append(ids, d.ID), append(endpoints, d.Endpoint), append(eventIDs, d.EventID)
		payloads, attempts = append(payloads, payload), append(attempts, int64(d.Attempts))
		lastErrs = append(lastErrs, cleanText(d.LastError))
		next, created, updated = append(next, d.NextAttemptAt), append(created, d.CreatedAt), append(updated, d.UpdatedAt)
	}
	if len(ids) == 0 {
		return nil, nil
	}
	return []any{ids, endpoints, eventIDs, payloads, attempts, next, lastErrs, created, updated}, nil
}

func scanDeliveries(rows pgx.Rows) ([]sessiond.Delivery, error) {
	defer rows.Close()
	out := []sessiond.Delivery{}
	for rows.Next() {
		var (
			d        sessiond.Delivery
			attempts int64
		)
		if err := rows.Scan(&d.ID, &d.Endpoint, &d.EventID, &d.Payload, (*string)(&d.State), &attempts,
			&d.NextAttemptAt, &d.LastError, &d.CreatedAt, &d.UpdatedAt); err != nil {
			return nil, err
		}
		if d.Payload == nil {
			d.Payload = []byte{}
		}
		d.Attempts = int(attempts)
		d.NextAttemptAt, d.CreatedAt, d.UpdatedAt = d.NextAttemptAt.UTC(), d.CreatedAt.UTC(), d.UpdatedAt.UTC()
		out = append(out, d)
	}
	return out, rows.Err()
}

// ClaimDeliveries returns up to limit pending deliveries due at now (their
// NextAttemptAt at or before it), longest due first (then by ID), with
// NextAttemptAt moved to now+lease. One statement locks the due rows with
// FOR UPDATE SKIP LOCKED and updates them, so concurrent claims, on any
// node, never return the same delivery and never wait for each other.
// ErrInvalidArgument if limit is not positive or lease is under
// sessiond.MinClaimLease.
func (s *Store) ClaimDeliveries(ctx context.Context, now time.Time, limit int, lease time.Duration) ([]sessiond.Delivery, error) {
	const op = "claim deliveries"
	if err := s.begin(op, sessiond.CheckLimit(limit), sessiond.CheckLease(lease)); err != nil {
		return nil, err
	}
	return s.queryDeliveries(ctx, op, s.q.claim, now, limit, now.Add(lease))
}

// FinishDelivery records an attempt's outcome: it sets State, Attempts,
// NextAttemptAt, LastError (invalid UTF-8 and NUL stored as U+FFFD) and
// UpdatedAt as given. ErrNotFound if id is unknown, ErrInvalidArgument if
// state is not pending, delivered or dead.
func (s *Store) FinishDelivery(ctx context.Context, id string, state sessiond.DeliveryState, attempts int, next time.Time, lastErr string, at time.Time) error {
	const op = "finish delivery"
	if err := s.begin(op, state.Validate()); err != nil {
		return err
	}
	if !validText(id) {
		return fmt.Errorf("pgstore: %s: %w", op, sessiond.ErrNotFound) // could never have been stored
	}
	tag, err := s.pool.Exec(ctx, s.q.finish, id, string(state), int64(attempts), next, cleanText(lastErr), at)
	if err != nil {
		return s.translate(op, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("pgstore: %s: %w", op, sessiond.ErrNotFound)
	}
	return nil
}

// finishClaimedTries bounds FinishClaimed's runs of its statement when the
// row's lock or the snapshot fails it.
const finishClaimedTries = 3

// FinishClaimed records an attempt's outcome, as FinishDelivery, if
// claimed's claim still holds the delivery; see sessiond.OutboxFencer.
// One statement: the fence is the UPDATE's condition. ErrConflict if it
// no longer holds, ErrNotFound if id is unknown. A serialization failure,
// deadlock or lock timeout (40001, 40P01, 55P03: lock_timeout in the DSN)
// is no lost claim: the statement is tried again, up to
// finishClaimedTries times in all, then ErrStoreUnavailable.
func (s *Store) FinishClaimed(ctx context.Context, claimed sessiond.Delivery, state sessiond.DeliveryState, attempts int, next time.Time, lastErr string, at time.Time) error {
	const op = "finish claimed delivery"
	if err := s.begin(op, state.Validate()); err != nil {
		return err
	}
	if !validText(claimed.ID) {
		return fmt.Errorf("pgstore: %s: %w", op, sessiond.ErrNotFound) // could never have been stored
	}
	var (
		n      int64
		exists bool
		err    error
	)
	// A serialization failure, a deadlock or a lock timeout changed
	// nothing and says nothing of the claim, but translate makes it
	// ErrConflict, which here means a lost claim (the dispatcher would drop
	// the outcome). The one statement is safe to run again, and a fresh
	// snapshot sees whether the claim still holds.
	for try := 1; ; try++ {
		err = s.pool.QueryRow(ctx, s.q.finishClaimed, claimed.ID, string(state), int64(attempts), next, cleanText(lastErr), at,
			claimed.NextAttemptAt, int64(claimed.Attempts)).Scan(&n, &exists)
		if !lockFailure(err) || try == finishClaimedTries || ctx.Err() != nil {
			break
		}
	}
	switch {
	case lockFailure(err) && !s.closed.Load():
		return fmt.Errorf("pgstore: %s: %w: %s: still failing after %d tries: %s", op, sessiond.ErrStoreUnavailable, claimed.ID, finishClaimedTries, pgMessage(err))
	case err != nil:
		return s.translate(op, err)
	}
	switch {
	case n > 0:
		return nil
	case !exists:
		return fmt.Errorf("pgstore: %s: %w", op, sessiond.ErrNotFound)
	}
	return fmt.Errorf("pgstore: %s: %w: %s is no longer held by this claim", op, sessiond.ErrConflict, claimed.ID)
}

// RetryDelivery moves a dead delivery back to pending; see sessiond.Outbox.
// The state check is in the UPDATE, so concurrent retries move it once.
func (s *Store) RetryDelivery(ctx context.Context, id string, at time.Time) error {
	const op = "retry delivery"
	if err := s.begin(op); err != nil {
		return err
	}
	if !validText(id) {
		return fmt.Errorf("pgstore: %s: %w", op, sessiond.ErrNotFound) // could never have been stored
	}
	tag, err := s.pool.Exec(ctx, s.q.retryDead, id, at)
	if err != nil {
		return s.translate(op, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("pgstore: %s: %w: no dead delivery %q", op, sessiond.ErrNotFound, id)
	}
	return nil
}

// ListDeliveries returns up to limit deliveries in state, newest (by
// CreatedAt, then ID) first. ErrInvalidArgument if limit is not positive.
func (s *Store) ListDeliveries(ctx context.Context, state sessiond.DeliveryState, limit int) ([]sessiond.Delivery, error) {
	const op = "list deliveries"
	if err := s.begin(op, sessiond.CheckLimit(limit)); err != nil {
		return nil, err
	}
	if !validText(string(state)) {
		return []sessiond.Delivery{}, nil // no delivery can be in it
	}
	return s.queryDeliveries(ctx, op, s.q.listDeliveries, string(state), limit)
}

// CountDeliveries counts deliveries in state (the outbox depth gauge), in
// one statement over the deliveries_due index.
func (s *Store) CountDeliveries(ctx context.Context, state sessiond.DeliveryState) (int, error) {
	if s.closed.Load() {
		return 0, errClosed
	}
	if !validText(string(state)) {
		return 0, nil
	}
	var n int64
	if err := s.pool.QueryRow(ctx, s.q.countDeliveries, string(state)).Scan(&n); err != nil {
		return 0, s.translate("count deliveries", err)
	}
	return int(n), nil
}

// DeleteDeliveriesBefore deletes up to limit delivered or dead deliveries
// whose UpdatedAt is before before, and returns how many: one bounded
// statement, like DeleteEventsBefore. Pending deliveries are never
// deleted. ErrInvalidArgument if limit is not positive.
func (s *Store) DeleteDeliveriesBefore(ctx context.Context, before time.Time, limit int) (int, error) {
	return s.deleteBefore(ctx, "delete deliveries", s.q.deleteDel, before, limit)
}

// queryDeliveries runs a query returning deliveries and scans them.
func (s *Store) queryDeliveries(ctx context.Context, op, query string, args ...any) ([]sessiond.Delivery, error) {
	rows, err := s.pool.Query(ctx, query, args...)
	if err != nil {
		return nil, s.translate(op, err)
	}
	out, err := scanDeliveries(rows)
	if err != nil {
		return nil, s.translate(op, err)
	}
	return out, nil
}
