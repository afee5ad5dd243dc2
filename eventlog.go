package sessiond

import (
	"context"
	"math"
	"time"
)

// EventQuery selects events from an EventLog. Zero fields do not filter.
type EventQuery struct {
	Subject string
	// NoSubject keeps only the events without a subject (a kill switch's
	// session.bulk_revoked, an unknown token's…); Subject must be empty
	// then. SQLite and PostgreSQL serve it with a type from an index of
	// those events alone, so the few of a type are found among its many;
	// Redis checks each event of the index it walks (docs/redisstore.md).
	NoSubject bool
	SessionID SessionID
	Type      EventType
	Since     time.Time // inclusive
	Until     time.Time // exclusive
	// Cursor continues a previous query: the ID of the last event it
	// returned. Events are ordered by ID, which orders them by time.
	Cursor string
	Limit  int // at most this many; see PageSize
}

// Event log page sizes: EventQuery.Limit 0 means DefaultEventLimit, and a
// larger Limit than MaxEventLimit is capped to it.
const (
	DefaultEventLimit = 100
	MaxEventLimit     = 1000
)

// PageSize is q.Limit as every store applies it: 0 becomes
// DefaultEventLimit, more than MaxEventLimit becomes MaxEventLimit, and a
// negative limit is an *ArgumentError. So is a Since or Until that whole
// microseconds since 1970 in an int64 cannot hold (beyond about 292,000
// years either way): the stores bound times in microseconds, where such a
// time would wrap around and match every event, or none; and a Subject
// with NoSubject.
func (q EventQuery) PageSize() (int, error) {
	switch {
	case q.Limit < 0:
		return 0, argError("limit", "must not be negative, got %d", q.Limit)
	case q.NoSubject && q.Subject != "":
		return 0, argError("subject", "must be empty with no_subject")
	case !q.Since.IsZero() && !microRange(q.Since):
		return 0, argError("since", "is out of range")
	case !q.Until.IsZero() && !microRange(q.Until):
		return 0, argError("until", "is out of range")
	case q.Limit == 0:
		return DefaultEventLimit, nil
	case q.Limit > MaxEventLimit:
		return MaxEventLimit, nil
	}
	return q.Limit, nil
}

// microRange reports whether t, rounded up to a whole microsecond, is a
// count of microseconds since 1970 an int64 holds.
func microRange(t time.Time) bool {
	return !t.Before(time.UnixMicro(math.MinInt64)) && t.Before(time.UnixMicro(math.MaxInt64))
}

// Matches reports whether e is in q's result before the page limit: it
// passes every filter set, and comes after the cursor.
func (q *EventQuery) Matches(e *Event) bool {
	return (q.Subject == "" || e.Subject == q.Subject) &&
		(!q.NoSubject || e.Subject == "") &&
		(q.SessionID == "" || e.SessionID == q.SessionID) &&
		(q.Type == "" || e.Type == q.Type) &&
		(q.Since.IsZero() || !e.Time.Before(q.Since)) &&
		(q.Until.IsZero() || e.Time.Before(q.Until)) &&
		(q.Cursor == "" || e.ID > q.Cursor)
}

// EventLog is implemented by stores that keep the security event log
// durably. Every store sessiond ships implements it.
type EventLog interface {
	// AppendEvents stores events. An ID that already exists is skipped,
	// so a retried append does not duplicate.
	AppendEvents(ctx context.Context, events ...Event) error
	// QueryEvents returns matching events in ID order after q.Cursor,
	// and the cursor of the next page ("" when there is none).
	QueryEvents(ctx context.Context, q EventQuery) ([]Event, string, error)
	// DeleteEventsBefore deletes up to limit events older than before and
	// returns how many (retention).
	DeleteEventsBefore(ctx context.Context, before time.Time, limit int) (int, error)
}
