package sqlitestore

import (
	"context"
	"database/sql"
	"encoding/base32"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"slices"
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
//
// With Since or Until it reads two statements and merges them: a range of
// IDs (an event's ID begins with its time, so the time bounds are ID
// bounds for the events whose ID was made from their time), and the
// events whose ID does not encode their time, from their own partial index
// (migration 0010). Either way it reads about a page, not every event of
// a type or the whole log.
func (s *Store) QueryEvents(ctx context.Context, q sessiond.EventQuery) ([]sessiond.Event, string, error) {
	const op = "query events"
	limit, err := q.PageSize()
	if err != nil {
		return nil, "", err
	}
	var out []sessiond.Event
	for _, st := range eventStatements(q, limit+1) {
		evs, err := s.readEvents(ctx, st)
		if err != nil {
			return nil, "", s.fail(op, err)
		}
		out = append(out, evs...)
	}
	// Each statement's rows are in ID order and the first limit+1 of
	// theirs; the page is the first limit+1 of both. An irregular ID
	// inside the range is in both.
	slices.SortFunc(out, func(a, b sessiond.Event) int { return strings.Compare(a.ID, b.ID) })
	out = slices.CompactFunc(out, func(a, b sessiond.Event) bool { return a.ID == b.ID })
	if out == nil {
		out = []sessiond.Event{}
	}
	if len(out) > limit {
		out = out[:limit]
		return out, out[limit-1].ID, nil
	}
	return out, "", nil
}

// eventStatement is one SELECT of QueryEvents with its arguments.
type eventStatement struct {
	query string
	args  []any
}

// irregularEventSQL is true of an event whose ID is not in
// [firstEventID(time), firstEventID(time + 1)): the WHERE of the partial
// index events_irregular (migration 0010), word for word.
var irregularEventSQL = "time < 0 OR id < " + firstEventIDSQL("time") + " || '0000000000000' OR id >= " +
	firstEventIDSQL("(time + 1)") + " || '0000000000000'"

// firstEventIDSQL is, in SQL, the first 17 characters of firstEventID of
// the microseconds t (the other 13 are '0'): "evt_", then t's 64 bits in
// base32hex five at a time, the 13th character holding the last four.
func firstEventIDSQL(t string) string {
	const digits = `'0123456789abcdefghijklmnopqrstuv'`
	parts := []string{`'evt_'`}
	for shift := 59; shift >= 4; shift -= 5 {
		parts = append(parts, fmt.Sprintf("substr(%s, ((%s >> %d) & 31) + 1, 1)", digits, t, shift))
	}
	parts = append(parts, fmt.Sprintf("substr(%s, (%s & 15) * 2 + 1, 1)", digits, t))
	return strings.Join(parts, " || ")
}

// eventStatements are the statements answering q, each reading at most
// want rows: one without time bounds; with them, the range of IDs the
// bounds give and the irregular IDs (see QueryEvents).
func eventStatements(q sessiond.EventQuery, want int) []eventStatement {
	timed := !q.Since.IsZero() || !q.Until.IsZero()
	build := func(from string, idRange bool) eventStatement {
		var b strings.Builder
		b.WriteString(`SELECT id, time, type, subject, session_id, client_ip, client_ua, details FROM ` + from + ` WHERE 1`)
		var args []any
		where := func(cond string, arg any) {
			b.WriteString(" AND ")
			b.WriteString(cond)
			args = append(args, arg)
		}
		lower := q.Cursor
		lowerOp := "id > ?"
		if idRange && !q.Since.IsZero() {
			if us := ceilMicro(q.Since); us >= 0 {
				if first := firstEventID(us); first > q.Cursor {
					lower, lowerOp = first, "id >= ?"
				}
			}
		}
		if lower != "" {
			where(lowerOp, lower)
		}
		if idRange && !q.Until.IsZero() {
			// Before 1970 no ID encodes its time: the range is empty, and
			// its bound keeps the statement from reading the whole log.
			where("id < ?", firstEventID(max(ceilMicro(q.Until), 0)))
		}
		if q.Subject != "" {
			where("subject = ?", q.Subject)
		}
		if q.NoSubject {
			// Literal, as the WHERE of events_no_subject (migration 0012)
			// is: SQLite uses a partial index only for a term it can see.
			b.WriteString(" AND subject = ''")
		}
		if q.SessionID != "" {
			where("session_id = ?", string(q.SessionID))
		}
		if q.Type != "" {
			// A subject's or a session's events are few; without
			// statistics SQLite would walk the type's instead.
			cond := "type = ?"
			if q.Subject != "" || q.SessionID != "" {
				cond = "+type = ?"
			}
			where(cond, string(q.Type))
		}
		if !q.Since.IsZero() {
			where("time >= ?", ceilMicro(q.Since))
		}
		if !q.Until.IsZero() {
			where("time < ?", ceilMicro(q.Until))
		}
		b.WriteString(" ORDER BY id LIMIT ?")
		args = append(args, want)
		return eventStatement{query: b.String(), args: args}
	}
	if !timed {
		return []eventStatement{build("events", false)}
	}
	irregular := build("events INDEXED BY events_irregular", false)
	irregular.query = strings.Replace(irregular.query, " WHERE 1", " WHERE ("+irregularEventSQL+")", 1)
	return []eventStatement{build("events", true), irregular}
}

// firstEventID is the smallest ID sessiond.NewEventID gives an event at
// us (≥ 0) microseconds: us big-endian in 8 bytes, then 8 zero bytes.
func firstEventID(us int64) string {
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], uint64(us))
	return "evt_" + strings.ToLower(base32.HexEncoding.WithPadding(base32.NoPadding).EncodeToString(b[:]))
}

// readEvents runs one of eventStatements.
func (s *Store) readEvents(ctx context.Context, st eventStatement) ([]sessiond.Event, error) {
	rows, err := s.db.QueryContext(ctx, st.query, st.args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []sessiond.Event
	for rows.Next() {
		var (
			e          sessiond.Event
			tm         int64
			typ, sid   string
			rawDetails []byte
		)
		if err := rows.Scan(&e.ID, &tm, &typ, &e.Subject, &sid, &e.Client.IP, &e.Client.UserAgent, &rawDetails); err != nil {
			return nil, err
		}
		e.Time, e.Type, e.SessionID = fromMicro(tm), sessiond.EventType(typ), sessiond.SessionID(sid)
		if rawDetails != nil {
			if err := json.Unmarshal(rawDetails, &e.Details); err != nil {
				return nil, fmt.Errorf("event %s details: %w", e.ID, err)
			}
		}
		out = append(out, e)
	}
	return out, rows.Err()
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
