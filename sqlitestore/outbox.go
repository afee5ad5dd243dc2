package sqlitestore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/sessiond/sessiond"
)

var (
	_ sessiond.Outbox       = (*Store)(nil)
	_ sessiond.OutboxFencer = (*Store)(nil)
)

// deliveryColumns are read by scanDelivery, in this order.
const deliveryColumns = `id, endpoint, event_id, payload, state, attempts, next_attempt_at, last_error, created_at, updated_at`

func scanDelivery(sc scanner) (sessiond.Delivery, error) {
	var (
		d                      sessiond.Delivery
		state                  string
		next, created, updated int64
	)
	if err := sc.Scan(&d.ID, &d.Endpoint, &d.EventID, &d.Payload, &state, &d.Attempts, &next, &d.LastError,
		&created, &updated); err != nil {
		return sessiond.Delivery{}, err
	}
	d.State = sessiond.DeliveryState(state)
	d.NextAttemptAt, d.CreatedAt, d.UpdatedAt = fromMicro(next), fromMicro(created), fromMicro(updated)
	return d, nil
}

// queryDeliveries runs a SELECT of deliveryColumns on q (the pool or a
// transaction).
func queryDeliveries(ctx context.Context, q interface {
	QueryContext(context.Context, string, ...any) (*sql.Rows, error)
}, query string, args ...any) ([]sessiond.Delivery, error) {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []sessiond.Delivery{}
	for rows.Next() {
		d, err := scanDelivery(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	return out, rows.Close()
}

// EnqueueDeliveries stores pending deliveries in one transaction; an ID
// that exists already (or earlier in ds) is skipped. An empty State means
// pending. ErrInvalidArgument, and nothing stored, if a delivery has no ID
// or another State.
func (s *Store) EnqueueDeliveries(ctx context.Context, ds ...sessiond.Delivery) error {
	const op = "enqueue deliveries"
	if err := sessiond.CheckEnqueue(ds); err != nil {
		return wrap(op, err)
	}
	if len(ds) == 0 {
		return nil
	}
	return s.write(ctx, op, func(tx *sql.Tx) error { return s.insertDeliveries(ctx, tx, ds) })
}

// insertDeliveries stores pending deliveries in tx, skipping IDs already
// stored.
func (s *Store) insertDeliveries(ctx context.Context, tx *sql.Tx, ds []sessiond.Delivery) error {
	for _, d := range ds {
		payload := d.Payload
		if payload == nil {
			payload = []byte{} // the column is NOT NULL
		}
		if _, err := s.exec(ctx, tx, insertDeliveryQuery, d.ID, d.Endpoint, d.EventID, payload, string(sessiond.DeliveryPending),
			d.Attempts, micro(d.NextAttemptAt), d.LastError, micro(d.CreatedAt), micro(d.UpdatedAt)); err != nil {
			return err
		}
	}
	return nil
}

// ClaimDeliveries returns up to limit pending deliveries due at now (their
// NextAttemptAt at or before it), longest due first, with NextAttemptAt
// moved to now+lease; the select and the update share one write
// transaction, so two claims never return the same delivery.
// ErrInvalidArgument if limit is not positive or lease is under
// sessiond.MinClaimLease.
func (s *Store) ClaimDeliveries(ctx context.Context, now time.Time, limit int, lease time.Duration) ([]sessiond.Delivery, error) {
	const op = "claim deliveries"
	if err := sessiond.CheckLimit(limit); err != nil {
		return nil, wrap(op, err)
	}
	if err := sessiond.CheckLease(lease); err != nil {
		return nil, wrap(op, err)
	}
	until := fromMicro(micro(now.Add(lease)))
	var out []sessiond.Delivery
	err := s.write(ctx, op, func(tx *sql.Tx) error {
		var err error
		out, err = queryDeliveries(ctx, tx, `SELECT `+deliveryColumns+` FROM deliveries
			WHERE state = ? AND next_attempt_at <= ? ORDER BY next_attempt_at, id LIMIT ?`,
			string(sessiond.DeliveryPending), micro(now), limit)
		if err != nil || len(out) == 0 {
			return err
		}
		ids := make([]string, len(out))
		for i, d := range out {
			ids[i] = d.ID
		}
		idsJSON, err := json.Marshal(ids)
		if err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `UPDATE deliveries SET next_attempt_at = ?
			WHERE id IN (SELECT value FROM json_each(?))`, micro(until), string(idsJSON))
		return err
	})
	if err != nil {
		return nil, err
	}
	for i := range out {
		out[i].NextAttemptAt = until
	}
	return out, nil
}

// FinishDelivery records an attempt's outcome; see sessiond.Outbox.
// ErrNotFound if id is unknown, ErrInvalidArgument if state is not one of
// the three.
func (s *Store) FinishDelivery(ctx context.Context, id string, state sessiond.DeliveryState, attempts int, next time.Time, lastErr string, at time.Time) error {
	const op = "finish delivery"
	if err := state.Validate(); err != nil {
		return wrap(op, err)
	}
	return s.updateDelivery(ctx, op, `UPDATE deliveries
		SET state = ?, attempts = ?, next_attempt_at = ?, last_error = ?, updated_at = ? WHERE id = ?`,
		string(state), attempts, micro(next), lastErr, micro(at), id)
}

// FinishClaimed records an attempt's outcome if claimed's claim still
// holds the delivery; see sessiond.OutboxFencer. The fence is in the
// UPDATE's condition; when it matches no row, the same transaction tells
// an unknown ID (ErrNotFound) from a lost claim (ErrConflict).
func (s *Store) FinishClaimed(ctx context.Context, claimed sessiond.Delivery, state sessiond.DeliveryState, attempts int, next time.Time, lastErr string, at time.Time) error {
	const op = "finish claimed delivery"
	if err := state.Validate(); err != nil {
		return wrap(op, err)
	}
	return s.write(ctx, op, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE deliveries
			SET state = ?, attempts = ?, next_attempt_at = ?, last_error = ?, updated_at = ?
			WHERE id = ? AND state = 'pending' AND next_attempt_at = ? AND attempts = ?`,
			string(state), attempts, micro(next), lastErr, micro(at), claimed.ID, micro(claimed.NextAttemptAt), claimed.Attempts)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n > 0 {
			return err
		}
		var one int
		switch err := tx.QueryRowContext(ctx, `SELECT 1 FROM deliveries WHERE id = ?`, claimed.ID).Scan(&one); {
		case errors.Is(err, sql.ErrNoRows):
			return sessiond.ErrNotFound
		case err != nil:
			return err
		}
		return fmt.Errorf("%w: %s is no longer held by this claim", sessiond.ErrConflict, claimed.ID)
	})
}

// RetryDelivery moves a dead delivery back to pending; see sessiond.Outbox.
// The state check is in the UPDATE, so concurrent retries move it once.
func (s *Store) RetryDelivery(ctx context.Context, id string, at time.Time) error {
	const op = "retry delivery"
	return s.updateDelivery(ctx, op, `UPDATE deliveries
		SET state = 'pending', attempts = 0, next_attempt_at = ?, created_at = ?, updated_at = ? WHERE id = ? AND state = 'dead'`,
		micro(at), micro(at), micro(at), id)
}

// updateDelivery runs one UPDATE of a delivery; ErrNotFound if it matched
// no row.
func (s *Store) updateDelivery(ctx context.Context, op, query string, args ...any) error {
	return s.write(ctx, op, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, query, args...)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return sessiond.ErrNotFound
		}
		return nil
	})
}

// ListDeliveries returns up to limit deliveries in state, newest (by
// CreatedAt) first. ErrInvalidArgument if limit is not positive.
func (s *Store) ListDeliveries(ctx context.Context, state sessiond.DeliveryState, limit int) ([]sessiond.Delivery, error) {
	const op = "list deliveries"
	if err := sessiond.CheckLimit(limit); err != nil {
		return nil, wrap(op, err)
	}
	out, err := queryDeliveries(ctx, s.db, `SELECT `+deliveryColumns+` FROM deliveries
		WHERE state = ? ORDER BY created_at DESC, id DESC LIMIT ?`, string(state), limit)
	if err != nil {
		return nil, s.fail(op, err)
	}
	return out, nil
}

// CountDeliveries counts deliveries in state.
func (s *Store) CountDeliveries(ctx context.Context, state sessiond.DeliveryState) (int, error) {
	var n int
	if err := s.db.QueryRowContext(ctx, `SELECT count(*) FROM deliveries WHERE state = ?`, string(state)).Scan(&n); err != nil {
		return 0, s.fail("count deliveries", err)
	}
	return n, nil
}

// DeleteDeliveriesBefore deletes up to limit delivered or dead deliveries
// whose UpdatedAt is before before, and returns how many.
// ErrInvalidArgument if limit is not positive.
func (s *Store) DeleteDeliveriesBefore(ctx context.Context, before time.Time, limit int) (int, error) {
	return s.deleteLimited(ctx, "delete deliveries", limit, `DELETE FROM deliveries WHERE id IN (
		SELECT id FROM deliveries WHERE state IN (?, ?) AND updated_at < ? LIMIT ?)`,
		string(sessiond.DeliveryDelivered), string(sessiond.DeliveryDead), micro(before))
}
