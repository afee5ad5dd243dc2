package pgstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/sessiond/sessiond"
)

var (
	_ sessiond.EventLog    = (*Store)(nil)
	_ sessiond.Outbox      = (*Store)(nil)
	_ sessiond.BulkRevoker = (*Store)(nil)
	_ sessiond.LiveCounter = (*Store)(nil)
)

// defaultRevokeBatch is how many sessions one statement of RevokeMatching
// revokes (docs/pgstore.md, "Incident revocation").
const defaultRevokeBatch = 50_000

// maxBatchRetries: a batch of RevokeMatching that loses a deadlock against
// a concurrent revocation is run again this many times.
const maxBatchRetries = 3

// wrap names the store and the operation in err.
func wrap(op string, err error) error { return fmt.Errorf("pgstore: %s: %w", op, err) }

// cleanText makes s storable in a text column: invalid UTF-8 and NUL bytes
// become U+FFFD. The event log records what it is given rather than lose
// an event (a relayed User-Agent may be Latin-1); filters go through it
// too, so they find what was stored.
func cleanText(s string) string {
	if validText(s) {
		return s
	}
	return strings.ReplaceAll(strings.ToValidUTF8(s, "\uFFFD"), "\x00", "\uFFFD")
}

// AppendEvents stores events in one statement; see sessiond.EventLog. An
// ID that exists already is skipped; one repeated within events is stored
// once, as first given. Text fields PostgreSQL cannot hold (invalid UTF-8,
// NUL) are stored with U+FFFD in their place. ErrInvalidArgument, and
// nothing stored, if an event has no ID (or one that is not valid text), or
// Details that do not encode as JSON.
func (s *Store) AppendEvents(ctx context.Context, events ...sessiond.Event) error {
	if s.closed.Load() {
		return errClosed
	}
	const op = "append events"
	var (
		ids, types, subjects, sessions, ips, uas []string
		times                                    []time.Time
		details                                  [][]byte
		seen                                     = make(map[string]bool, len(events))
	)
	if err := sessiond.CheckAppend(events); err != nil {
		return wrap(op, err)
	}
	for i, e := range events {
		if !validText(e.ID) {
			return wrap(op, textError(fmt.Sprintf("events[%d].id", i)))
		}
		var d []byte // NULL: no details
		if len(e.Details) > 0 {
			b, err := json.Marshal(e.Details)
			if err != nil {
				return wrap(op, &sessiond.ArgumentError{Field: fmt.Sprintf("events[%d].details", i), Msg: err.Error()})
			}
			d = b
		}
		if seen[e.ID] {
			continue
		}
		seen[e.ID] = true
		ids = append(ids, e.ID)
		times = append(times, e.Time)
		types = append(types, cleanText(string(e.Type)))
		subjects = append(subjects, cleanText(e.Subject))
		sessions = append(sessions, cleanText(string(e.SessionID)))
		ips = append(ips, cleanText(e.Client.IP))
		uas = append(uas, cleanText(e.Client.UserAgent))
		details = append(details, d)
	}
	if len(ids) == 0 {
		return nil
	}
	_, err := s.pool.Exec(ctx, s.q.appendEvents, ids, times, types, subjects, sessions, ips, uas, details)
	return s.translate(op, err)
}

// QueryEvents returns the events q selects, in ID order, after q.Cursor,
// and the cursor of the next page ("" when no more match); see
// sessiond.EventLog. Limit 0 means 100, more than 1000 means 1000; a
// negative Limit is ErrInvalidArgument. One statement, built with only the
// filters q sets; it reads one more row than the page to know whether
// another follows.
func (s *Store) QueryEvents(ctx context.Context, q sessiond.EventQuery) ([]sessiond.Event, string, error) {
	if s.closed.Load() {
		return nil, "", errClosed
	}
	const op = "query events"
	limit, err := q.PageSize()
	if err != nil {
		return nil, "", err
	}
	f := eventFilter{
		cursor: q.Cursor != "", subject: q.Subject != "", sessionID: q.SessionID != "", typ: q.Type != "",
		since: !q.Since.IsZero(), until: !q.Until.IsZero(),
	}
	args := []any{limit + 1}
	if f.cursor {
		args = append(args, cleanText(q.Cursor))
	}
	if f.subject {
		args = append(args, cleanText(q.Subject))
	}
	if f.sessionID {
		args = append(args, cleanText(string(q.SessionID)))
	}
	if f.typ {
		args = append(args, cleanText(string(q.Type)))
	}
	if f.since {
		args = append(args, q.Since)
	}
	if f.until {
		args = append(args, q.Until)
	}
	rows, err := s.pool.Query(ctx, s.q.queryEventsSQL(f), args...)
	if err != nil {
		return nil, "", s.translate(op, err)
	}
	out, err := scanEvents(rows)
	if err != nil {
		return nil, "", s.translate(op, err)
	}
	if len(out) > limit {
		out = out[:limit]
		return out, out[limit-1].ID, nil
	}
	return out, "", nil
}

func scanEvents(rows pgx.Rows) ([]sessiond.Event, error) {
	defer rows.Close()
	out := []sessiond.Event{}
	for rows.Next() {
		var (
			e       sessiond.Event
			details []byte
		)
		if err := rows.Scan(&e.ID, &e.Time, (*string)(&e.Type), &e.Subject, (*string)(&e.SessionID),
			&e.Client.IP, &e.Client.UserAgent, &details); err != nil {
			return nil, err
		}
		e.Time = e.Time.UTC()
		if details != nil {
			if err := json.Unmarshal(details, &e.Details); err != nil {
				return nil, fmt.Errorf("event %s: details: %w", e.ID, err)
			}
		}
		out = append(out, e)
	}
	return out, rows.Err()
}

// DeleteEventsBefore deletes up to limit events whose Time is before
// before, oldest first, and returns how many: one bounded statement that
// steps over rows another collector holds. ErrInvalidArgument if limit is
// not positive.
func (s *Store) DeleteEventsBefore(ctx context.Context, before time.Time, limit int) (int, error) {
	if s.closed.Load() {
		return 0, errClosed
	}
	const op = "delete events"
	if err := sessiond.CheckLimit(limit); err != nil {
		return 0, wrap(op, err)
	}
	tag, err := s.pool.Exec(ctx, s.q.deleteEvents, before, limit)
	if err != nil {
		return 0, s.translate(op, err)
	}
	return int(tag.RowsAffected()), nil
}

// EnqueueDeliveries stores pending deliveries in one statement; an ID that
// exists already is skipped, one repeated within ds is stored once, as
// first given. An empty State means pending. ErrInvalidArgument, and
// nothing stored, if a delivery has no ID, another State, or an ID,
// Endpoint or EventID that is not valid UTF-8 without NUL.
func (s *Store) EnqueueDeliveries(ctx context.Context, ds ...sessiond.Delivery) error {
	if s.closed.Load() {
		return errClosed
	}
	const op = "enqueue deliveries"
	var (
		ids, endpoints, eventIDs, lastErrs []string
		payloads                           [][]byte
		attempts                           []int64
		next, created, updated             []time.Time
		seen                               = make(map[string]bool, len(ds))
	)
	if err := sessiond.CheckEnqueue(ds); err != nil {
		return wrap(op, err)
	}
	for i, d := range ds {
		for _, f := range []struct{ field, v string }{{"id", d.ID}, {"endpoint", d.Endpoint}, {"event_id", d.EventID}} {
			if !validText(f.v) {
				return wrap(op, textError(fmt.Sprintf("deliveries[%d].%s", i, f.field)))
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
		return nil
	}
	_, err := s.pool.Exec(ctx, s.q.enqueue, ids, endpoints, eventIDs, payloads, attempts, next, lastErrs, created, updated)
	return s.translate(op, err)
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
// ErrInvalidArgument if limit or lease is not positive.
func (s *Store) ClaimDeliveries(ctx context.Context, now time.Time, limit int, lease time.Duration) ([]sessiond.Delivery, error) {
	if s.closed.Load() {
		return nil, errClosed
	}
	const op = "claim deliveries"
	if err := sessiond.CheckLimit(limit); err != nil {
		return nil, wrap(op, err)
	}
	if err := sessiond.CheckLease(lease); err != nil {
		return nil, wrap(op, err)
	}
	rows, err := s.pool.Query(ctx, s.q.claim, now, limit, now.Add(lease))
	if err != nil {
		return nil, s.translate(op, err)
	}
	out, err := scanDeliveries(rows)
	if err != nil {
		return nil, s.translate(op, err)
	}
	return out, nil
}

// FinishDelivery records an attempt's outcome: it sets State, Attempts,
// NextAttemptAt, LastError (invalid UTF-8 and NUL stored as U+FFFD) and
// UpdatedAt as given. ErrNotFound if id is unknown, ErrInvalidArgument if
// state is not pending, delivered or dead.
func (s *Store) FinishDelivery(ctx context.Context, id string, state sessiond.DeliveryState, attempts int, next time.Time, lastErr string, at time.Time) error {
	if s.closed.Load() {
		return errClosed
	}
	const op = "finish delivery"
	if err := state.Validate(); err != nil {
		return wrap(op, err)
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

// ListDeliveries returns up to limit deliveries in state, newest (by
// CreatedAt, then ID) first. ErrInvalidArgument if limit is not positive.
func (s *Store) ListDeliveries(ctx context.Context, state sessiond.DeliveryState, limit int) ([]sessiond.Delivery, error) {
	if s.closed.Load() {
		return nil, errClosed
	}
	const op = "list deliveries"
	if err := sessiond.CheckLimit(limit); err != nil {
		return nil, wrap(op, err)
	}
	if !validText(string(state)) {
		return []sessiond.Delivery{}, nil // no delivery can be in it
	}
	rows, err := s.pool.Query(ctx, s.q.listDeliveries, string(state), limit)
	if err != nil {
		return nil, s.translate(op, err)
	}
	out, err := scanDeliveries(rows)
	if err != nil {
		return nil, s.translate(op, err)
	}
	return out, nil
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
	if s.closed.Load() {
		return 0, errClosed
	}
	const op = "delete deliveries"
	if err := sessiond.CheckLimit(limit); err != nil {
		return 0, wrap(op, err)
	}
	tag, err := s.pool.Exec(ctx, s.q.deleteDel, before, limit)
	if err != nil {
		return 0, s.translate(op, err)
	}
	return int(tag.RowsAffected()), nil
}

// RevokeMatching revokes every session live at at (not revoked, before
// both expiries) that f selects, with reason, and returns how many and
// their distinct subjects, sorted; see sessiond.BulkRevoker. Subjects are
// matched with subject = ANY($n), one array parameter however many there
// are; IssuedBefore is created_at strictly before it. ErrInvalidArgument
// if f sets nothing.
//
// It works in batches of up to 50,000 sessions, each one statement and its
// own transaction, until a batch comes back short, so no transaction holds
// more rows or WAL than that whatever the incident's size. It sends no
// notification per session: the Manager carries an incident revocation to
// every node through the watermark document it writes first, so the
// batches are the durable record, not the signal. If a call fails midway
// (the context ends, the server goes away), the batches already committed
// stay revoked and the error says how many; running it again finishes the
// job, since revoked sessions are not selected twice. A batch that loses a
// deadlock against a concurrent revocation is retried.
func (s *Store) RevokeMatching(ctx context.Context, f sessiond.RevokeFilter, at time.Time, reason sessiond.RevokeReason) (int, []string, error) {
	if s.closed.Load() {
		return 0, nil, errClosed
	}
	const op = "revoke matching"
	if err := f.Validate(); err != nil {
		return 0, nil, wrap(op, err)
	}
	if !validText(string(reason)) {
		return 0, nil, wrap(op, textError("reason"))
	}
	args := []any{at, string(reason)}
	if len(f.Subjects) > 0 {
		// A subject PostgreSQL cannot store has no session.
		subjects := slices.DeleteFunc(slices.Clone(f.Subjects), func(s string) bool { return !validText(s) })
		if len(subjects) == 0 {
			return 0, []string{}, nil
		}
		slices.Sort(subjects)
		args = append(args, slices.Compact(subjects))
	}
	if !f.IssuedBefore.IsZero() {
		args = append(args, f.IssuedBefore)
	}
	batch := s.revokeBatch
	if batch <= 0 {
		batch = defaultRevokeBatch
	}
	query := s.q.revokeMatchingSQL(len(f.Subjects) > 0, !f.IssuedBefore.IsZero(), batch)

	total := 0
	seen := make(map[string]struct{})
	for retries := 0; ; {
		n, err := s.revokeBatchOnce(ctx, query, args, seen)
		if err != nil {
			err = s.translate(op, err)
			if errors.Is(err, sessiond.ErrConflict) && retries < maxBatchRetries && ctx.Err() == nil {
				retries++
				continue
			}
			if total > 0 {
				err = fmt.Errorf("%w (%d sessions revoked before the failure stay revoked; run it again to finish)", err, total)
			}
			return 0, nil, err
		}
		total += n
		if n < batch {
			break
		}
	}
	subjects := make([]string, 0, len(seen))
	for subject := range seen {
		subjects = append(subjects, subject)
	}
	slices.Sort(subjects)
	return total, subjects, nil
}

// revokeBatchOnce runs one batch of RevokeMatching, adds the subjects it
// revoked to seen, and returns how many sessions it revoked.
func (s *Store) revokeBatchOnce(ctx context.Context, query string, args []any, seen map[string]struct{}) (int, error) {
	rows, err := s.pool.Query(ctx, query, args...)
	if err != nil {
		return 0, err
	}
	defer rows.Close()
	n := 0
	for rows.Next() {
		var (
			subject string
			count   int64
		)
		if err := rows.Scan(&subject, &count); err != nil {
			return 0, err
		}
		n += int(count)
		seen[subject] = struct{}{}
	}
	return n, rows.Err()
}

// CountLive returns how many sessions are live at now (neither revoked nor
// past either expiry), by strategy, in one statement; strategies without a
// live session are absent. It reads the whole sessions table (a sequential
// scan, about a second per few million sessions): meant for a metrics
// scrape that caches it, not for a request path.
func (s *Store) CountLive(ctx context.Context, now time.Time) (map[sessiond.Strategy]int, error) {
	if s.closed.Load() {
		return nil, errClosed
	}
	const op = "count live sessions"
	rows, err := s.pool.Query(ctx, s.q.countLive, now)
	if err != nil {
		return nil, s.translate(op, err)
	}
	defer rows.Close()
	out := make(map[sessiond.Strategy]int)
	for rows.Next() {
		var (
			strategy string
			n        int64
		)
		if err := rows.Scan(&strategy, &n); err != nil {
			return nil, s.translate(op, err)
		}
		out[sessiond.Strategy(strategy)] = int(n)
	}
	if err := rows.Err(); err != nil {
		return nil, s.translate(op, err)
	}
	return out, nil
}
