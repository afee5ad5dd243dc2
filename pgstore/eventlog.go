package pgstore

import (
	"context"
	"encoding/base32"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/sessiond/sessiond"
)

var _ sessiond.EventLog = (*Store)(nil)

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
	args, err := eventArgs(events)
	return s.execInsert(ctx, "append events", s.q.appendEvents, args, err)
}

// execInsert runs the one-statement insert query on args, as built by
// eventArgs or deliveryArgs with error err: err is returned as the
// caller's bad input, and nil args (nothing to store) run nothing.
func (s *Store) execInsert(ctx context.Context, op, query string, args []any, err error) error {
	if err != nil {
		return wrap(op, err)
	}
	if args == nil {
		return nil
	}
	_, err = s.pool.Exec(ctx, query, args...)
	return s.translate(op, err)
}

// eventArgs are the arguments of appendEvents for events (nil when there
// is nothing to store). ErrInvalidArgument as AppendEvents.
func eventArgs(events []sessiond.Event) ([]any, error) {
	var (
		ids, types, subjects, sessions, ips, uas []string
		times                                    []time.Time
		details                                  [][]byte // nil: NULL, no details
		seen                                     = make(map[string]bool, len(events))
	)
	encoded, err := sessiond.EncodeEvents(events)
	if err != nil {
		return nil, err
	}
	for i, e := range events {
		if !validText(e.ID) {
			return nil, textError(fmt.Sprintf("events[%d].id", i))
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
		details = append(details, encoded[i])
	}
	if len(ids) == 0 {
		return nil, nil
	}
	return []any{ids, times, types, subjects, sessions, ips, uas, details}, nil
}

// QueryEvents returns the events q selects, in ID order, after q.Cursor,
// and the cursor of the next page ("" when no more match); see
// sessiond.EventLog. Limit 0 means 100, more than 1000 means 1000; a
// negative Limit is ErrInvalidArgument. One statement, built with only the
// filters q sets; it reads one more row than the page to know whether
// another follows. With Since or Until it reads a range of IDs and the
// events whose ID does not encode their time (see queryEventsSQL): about a
// page either way, not every event of a type or the whole log.
func (s *Store) QueryEvents(ctx context.Context, q sessiond.EventQuery) ([]sessiond.Event, string, error) {
	if s.closed.Load() {
		return nil, "", errClosed
	}
	const op = "query events"
	limit, err := q.PageSize()
	if err != nil {
		return nil, "", err
	}
	f, args := eventQueryArgs(q, limit)
	rows, err := s.pool.Query(ctx, s.q.queryEventsSQL(f), args...)
	if err != nil {
		return nil, "", s.translate(op, err)
	}
	out, err := scanEvents(rows)
	if err != nil {
		return nil, "", s.translate(op, err)
	}
	// An irregular ID inside the range came from both SELECTs.
	out = slices.CompactFunc(out, func(a, b sessiond.Event) bool { return a.ID == b.ID })
	if len(out) > limit {
		out = out[:limit]
		return out, out[limit-1].ID, nil
	}
	return out, "", nil
}

// maxEventMicro is the last microsecond an ID can encode; events at it or
// later are irregular (migration 0010).
const maxEventMicro = math.MaxInt64

// firstEventID is the smallest ID sessiond.NewEventID gives an event at or
// after t, for an ID bound: the event's microseconds from ceilMicro(t),
// held to [0, maxEventMicro] (no regular ID lies outside), big-endian in 8
// bytes, then 8 zero bytes, in lower-case base32hex.
func firstEventID(t time.Time) string {
	var us int64
	switch c := ceilMicro(t); {
	case c.Before(time.Unix(0, 0)):
		us = 0
	case c.After(time.UnixMicro(maxEventMicro)):
		us = maxEventMicro
	default:
		us = c.UnixMicro()
	}
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], uint64(us))
	return "evt_" + strings.ToLower(base32.HexEncoding.WithPadding(base32.NoPadding).EncodeToString(b[:]))
}

// eventQueryArgs says which filters q sets and gives the arguments of
// queryEventsSQL for them, $1 being limit + 1.
func eventQueryArgs(q sessiond.EventQuery, limit int) (eventFilter, []any) {
	f := eventFilter{
		cursor: q.Cursor != "", subject: q.Subject != "", sessionID: q.SessionID != "", typ: q.Type != "",
		since: !q.Since.IsZero(), until: !q.Until.IsZero(), noSubject: q.NoSubject,
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
		args = append(args, ceilMicro(q.Since))
	}
	if f.until {
		args = append(args, ceilMicro(q.Until))
	}
	if f.since {
		args = append(args, firstEventID(q.Since))
	}
	if f.until {
		args = append(args, firstEventID(q.Until))
	}
	return f, args
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
	return s.deleteBefore(ctx, "delete events", s.q.deleteEvents, ceilMicro(before), limit)
}

// ceilMicro is t rounded up to the microsecond, which is what PostgreSQL
// keeps: an event at a stored e is at or after t exactly when
// e >= ceilMicro(t), before t exactly when e < ceilMicro(t). Passed as is,
// t would be cut (rounded down) by the driver.
func ceilMicro(t time.Time) time.Time {
	if f := t.Truncate(time.Microsecond); !f.Equal(t) {
		return f.Add(time.Microsecond)
	}
	return t
}
