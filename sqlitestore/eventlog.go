package sqlitestore

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/sessiond/sessiond"
)

var _ sessiond.EventLog = (*Store)(nil)

// AppendEvents stores events in one transaction; see sessiond.EventLog. An
// ID that exists already (or earlier in events) is skipped.
// ErrInvalidArgument, and nothing stored, if an event has no ID or Details
// that do not encode as JSON.
func (s *Store) AppendEvents(ctx context.Context, events ...sessiond.Event) error {
	const op = "append events"
	enc, err := sessiond.EncodeEvents(events)
	if err != nil {
		return wrap(op, err)
	}
	if len(events) == 0 {
		return nil
	}
	return s.write(ctx, op, func(tx *sql.Tx) error { return s.insertEvents(ctx, tx, events, enc) })
}

// insertEvents stores events in tx, their details encoded in enc (from
// sessiond.EncodeEvents), skipping IDs already stored.
func (s *Store) insertEvents(ctx context.Context, tx *sql.Tx, events []sessiond.Event, enc [][]byte) error {
	for i, e := range events {
		var details any // nil: NULL, no details
		if enc[i] != nil {
			details = enc[i]
		}
		if _, err := s.exec(ctx, tx, insertEventQuery, e.ID, micro(e.Time), string(e.Type), e.Subject, string(e.SessionID),
			e.Client.IP, e.Client.UserAgent, details); err != nil {
			return err
		}
	}
	return nil
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
		where("time >= ?", ceilMicro(q.Since))
	}
	if !q.Until.IsZero() {
		where("time < ?", ceilMicro(q.Until))
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
	return s.deleteLimited(ctx, "delete events", limit, `DELETE FROM events WHERE id IN (
		SELECT id FROM events WHERE time < ? ORDER BY time LIMIT ?)`, ceilMicro(before))
}

// ceilMicro is t in microseconds, rounded up: the store keeps microseconds,
// and an event at a stored e is at or after t exactly when e >= ceilMicro(t),
// before t exactly when e < ceilMicro(t), whatever t's nanoseconds.
func ceilMicro(t time.Time) int64 {
	if f := t.Truncate(time.Microsecond); !f.Equal(t) {
		return f.UnixMicro() + 1
	}
	return t.UnixMicro()
}
