package sqlitestore

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/sessiond/sessiond"
)

var (
	_ sessiond.EventLog    = (*Store)(nil)
	_ sessiond.Outbox      = (*Store)(nil)
	_ sessiond.BulkRevoker = (*Store)(nil)
)

// wrap names the store and the operation in err.
func wrap(op string, err error) error { return fmt.Errorf("sqlitestore: %s: %w", op, err) }

// AppendEvents stores events in one transaction; see sessiond.EventLog. An
// ID that exists already (or earlier in events) is skipped.
// ErrInvalidArgument, and nothing stored, if an event has no ID or Details
// that do not encode as JSON.
func (s *Store) AppendEvents(ctx context.Context, events ...sessiond.Event) error {
	const op = "append events"
	if err := sessiond.CheckAppend(events); err != nil {
		return wrap(op, err)
	}
	details := make([]any, len(events))
	for i, e := range events {
		if len(e.Details) > 0 {
			b, err := json.Marshal(e.Details)
			if err != nil {
				return wrap(op, &sessiond.ArgumentError{Field: fmt.Sprintf("events[%d].details", i), Msg: err.Error()})
			}
			details[i] = b
		}
	}
	if len(events) == 0 {
		return nil
	}
	return s.write(ctx, op, func(tx *sql.Tx) error {
		st, err := tx.PrepareContext(ctx, `INSERT INTO events
			(id, time, type, subject, session_id, client_ip, client_ua, details)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING`)
		if err != nil {
			return err
		}
		defer st.Close()
		for i, e := range events {
			if _, err := st.ExecContext(ctx, e.ID, micro(e.Time), string(e.Type), e.Subject, string(e.SessionID),
				e.Client.IP, e.Client.UserAgent, details[i]); err != nil {
				return err
			}
		}
		return st.Close()
	})
}

// QueryEvents returns the events q selects, in ID order, after q.Cursor;
// see sessiond.EventLog. Limit 0 means 100, more than 1000 means 1000.
func (s *Store) QueryEvents(ctx context.Context, q sessiond.EventQuery) ([]sessiond.Event, string, error) {
	const op = "query events"
	limit, err := q.PageSize()
	if err != nil {
		return nil, "", err
	}
	var b strings.Builder
	b.WriteString(`SELECT id, time, type, subject, session_id, client_ip, client_ua, details FROM events WHERE 1`)
	var args []any
	where := func(cond string, arg any) {
		b.WriteString(" AND ")
		b.WriteString(cond)
		args = append(args, arg)
	}
	if q.Cursor != "" {
		where("id > ?", q.Cursor)
	}
	if q.Subject != "" {
		where("subject = ?", q.Subject)
	}
	if q.SessionID != "" {
		where("session_id = ?", string(q.SessionID))
	}
	if q.Type != "" {
		where("type = ?", string(q.Type))
	}
	if !q.Since.IsZero() {
		where("time >= ?", micro(q.Since))
	}
	if !q.Until.IsZero() {
		where("time < ?", micro(q.Until))
	}
	// One more than asked for tells whether another page follows.
	b.WriteString(" ORDER BY id LIMIT ?")
	args = append(args, limit+1)

	rows, err := s.db.QueryContext(ctx, b.String(), args...)
	if err != nil {
		return nil, "", s.fail(op, err)
	}
	defer rows.Close()
	out := []sessiond.Event{}
	for rows.Next() {
		var (
			e          sessiond.Event
			tm         int64
			typ, sid   string
			rawDetails []byte
		)
		if err := rows.Scan(&e.ID, &tm, &typ, &e.Subject, &sid, &e.Client.IP, &e.Client.UserAgent, &rawDetails); err != nil {
			return nil, "", s.fail(op, err)
		}
		e.Time, e.Type, e.SessionID = fromMicro(tm), sessiond.EventType(typ), sessiond.SessionID(sid)
		if rawDetails != nil {
			if err := json.Unmarshal(rawDetails, &e.Details); err != nil {
				return nil, "", s.fail(op, fmt.Errorf("event %s details: %w", e.ID, err))
			}
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, "", s.fail(op, err)
	}
	if len(out) > limit {
		out = out[:limit]
		return out, out[limit-1].ID, nil
	}
	return out, "", nil
}

// DeleteEventsBefore deletes up to limit events whose Time is before
// before, oldest first, and returns how many. ErrInvalidArgument if limit
// is not positive.
func (s *Store) DeleteEventsBefore(ctx context.Context, before time.Time, limit int) (int, error) {
	const op = "delete events"
	if err := sessiond.CheckLimit(limit); err != nil {
		return 0, wrap(op, err)
	}
	return s.deleteLimited(ctx, op, `DELETE FROM events WHERE id IN (
		SELECT id FROM events WHERE time < ? ORDER BY time LIMIT ?)`, micro(before), limit)
}

// deleteLimited runs the DELETE query in a write transaction and returns
// how many rows it deleted.
func (s *Store) deleteLimited(ctx context.Context, op, query string, args ...any) (int, error) {
	var n int64
	err := s.write(ctx, op, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, query, args...)
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	if err != nil {
		return 0, err
	}
	return int(n), nil
}

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
	return s.write(ctx, op, func(tx *sql.Tx) error {
		st, err := tx.PrepareContext(ctx, `INSERT INTO deliveries (`+deliveryColumns+`)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING`)
		if err != nil {
			return err
		}
		defer st.Close()
		for _, d := range ds {
			payload := d.Payload
			if payload == nil {
				payload = []byte{} // the column is NOT NULL
			}
			if _, err := st.ExecContext(ctx, d.ID, d.Endpoint, d.EventID, payload, string(sessiond.DeliveryPending),
				d.Attempts, micro(d.NextAttemptAt), d.LastError, micro(d.CreatedAt), micro(d.UpdatedAt)); err != nil {
				return err
			}
		}
		return st.Close()
	})
}

// ClaimDeliveries returns up to limit pending deliveries due at now (their
// NextAttemptAt at or before it), longest due first, with NextAttemptAt
// moved to now+lease; the select and the update share one write
// transaction, so two claims never return the same delivery.
// ErrInvalidArgument if limit or lease is not positive.
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
	return s.write(ctx, op, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE deliveries
			SET state = ?, attempts = ?, next_attempt_at = ?, last_error = ?, updated_at = ? WHERE id = ?`,
			string(state), attempts, micro(next), lastErr, micro(at), id)
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
	const op = "delete deliveries"
	if err := sessiond.CheckLimit(limit); err != nil {
		return 0, wrap(op, err)
	}
	return s.deleteLimited(ctx, op, `DELETE FROM deliveries WHERE id IN (
		SELECT id FROM deliveries WHERE state IN (?, ?) AND updated_at < ? LIMIT ?)`,
		string(sessiond.DeliveryDelivered), string(sessiond.DeliveryDead), micro(before), limit)
}

// RevokeMatching revokes every session live at at that f selects, with
// reason, in one UPDATE; see sessiond.BulkRevoker. It returns how many it
// revoked and their distinct subjects, sorted. Subjects are bound as one
// JSON array, so any number of them fits one statement. ErrInvalidArgument
// if f sets nothing.
func (s *Store) RevokeMatching(ctx context.Context, f sessiond.RevokeFilter, at time.Time, reason sessiond.RevokeReason) (int, []string, error) {
	const op = "revoke matching"
	if err := f.Validate(); err != nil {
		return 0, nil, wrap(op, err)
	}
	now := micro(at)
	// The unary + keeps the planner off the expiry indexes: a walk in
	// expiry order fetches rows at random, where a scan reads them in
	// order. Subjects go through the subject index.
	query := `UPDATE sessions SET revoked_at = ?, revoke_reason = ?
		WHERE +revoked_at IS NULL AND +expires_at > ? AND +idle_expires_at > ?`
	args := []any{now, string(reason), now, now}
	if len(f.Subjects) > 0 {
		subjects, err := json.Marshal(f.Subjects)
		if err != nil {
			return 0, nil, fmt.Errorf("sqlitestore: %s: %w", op, err)
		}
		query += ` AND subject IN (SELECT value FROM json_each(?))`
		args = append(args, string(subjects))
	}
	if !f.IssuedBefore.IsZero() {
		query += ` AND created_at < ?`
		args = append(args, micro(f.IssuedBefore))
	}
	query += ` RETURNING subject`

	var n int
	var subjects []string
	err := s.write(ctx, op, func(tx *sql.Tx) error {
		n, subjects = 0, nil
		rows, err := tx.QueryContext(ctx, query, args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		seen := make(map[string]struct{})
		var subject sql.RawBytes // a string only for each new subject
		for rows.Next() {
			if err := rows.Scan(&subject); err != nil {
				return err
			}
			n++
			if _, ok := seen[string(subject)]; !ok {
				seen[string(subject)] = struct{}{}
				subjects = append(subjects, string(subject))
			}
		}
		if err := rows.Err(); err != nil {
			return err
		}
		return rows.Close()
	})
	if err != nil {
		return 0, nil, err
	}
	slices.Sort(subjects)
	return n, subjects, nil
}

var _ sessiond.LiveCounter = (*Store)(nil)

// CountLive counts live sessions by strategy.
func (s *Store) CountLive(ctx context.Context, now time.Time) (map[sessiond.Strategy]int, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT strategy, count(*) FROM sessions
		WHERE revoked_at IS NULL AND expires_at > ? AND idle_expires_at > ? GROUP BY strategy`, micro(now), micro(now))
	if err != nil {
		return nil, s.fail("count live", err)
	}
	defer rows.Close()
	out := map[sessiond.Strategy]int{}
	for rows.Next() {
		var st string
		var n int
		if err := rows.Scan(&st, &n); err != nil {
			return nil, s.fail("count live", err)
		}
		out[sessiond.Strategy(st)] = n
	}
	if err := rows.Err(); err != nil {
		return nil, s.fail("count live", err)
	}
	return out, nil
}
