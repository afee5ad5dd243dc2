package memstore

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/sessiond/sessiond"
)

var _ sessiond.EventLog = (*Store)(nil)

// storedEvent is an event as the log keeps it. Details are kept as JSON, so
// they come back exactly as from a durable store (numbers as float64) and
// no caller shares a map with the store.
type storedEvent struct {
	e       sessiond.Event // Details nil
	details []byte         // JSON object, or nil
}

func (se *storedEvent) event() (sessiond.Event, error) {
	e := se.e
	if se.details != nil {
		if err := json.Unmarshal(se.details, &e.Details); err != nil {
			return sessiond.Event{}, err
		}
	}
	return e, nil
}

// AppendEvents stores events in the log; see sessiond.EventLog. An ID that
// exists already (or earlier in events) is skipped. ErrInvalidArgument, and
// nothing stored, if an event has no ID or Details that do not encode as
// JSON.
func (s *Store) AppendEvents(ctx context.Context, events ...sessiond.Event) error {
	details, err := sessiond.EncodeEvents(events)
	if err := s.lock(ctx, "append events", err); err != nil {
		return err
	}
	defer s.mu.Unlock()
	s.appendEvents(events, details)
	return nil
}

// appendEvents stores events, their details encoded in details, skipping
// IDs already stored. s.mu is held.
func (s *Store) appendEvents(events []sessiond.Event, details [][]byte) {
	for i, e := range events {
		e.Details = nil
		if at, found := s.findEvent(e.ID); !found {
			s.events = slices.Insert(s.events, at, storedEvent{e: e, details: details[i]})
		}
	}
}

// findEvent returns where the event with ID id is, or would be, in
// s.events (kept in ID order).
func (s *Store) findEvent(id string) (int, bool) {
	return slices.BinarySearchFunc(s.events, id, func(se storedEvent, id string) int { return strings.Compare(se.e.ID, id) })
}

// QueryEvents returns the events q selects, in ID order, after q.Cursor;
// see sessiond.EventLog. Limit 0 means 100, more than 1000 means 1000.
func (s *Store) QueryEvents(ctx context.Context, q sessiond.EventQuery) ([]sessiond.Event, string, error) {
	const op = "query events"
	limit, err := q.PageSize()
	if err := s.rlock(ctx, op, err); err != nil {
		return nil, "", err
	}
	defer s.mu.RUnlock()
	start := 0
	if q.Cursor != "" {
		i, found := s.findEvent(q.Cursor)
		if found {
			i++
		}
		start = i
	}
	out := []sessiond.Event{}
	for i := start; i < len(s.events); i++ {
		se := &s.events[i]
		if !q.Matches(&se.e) {
			continue
		}
		if len(out) == limit {
			return out, out[len(out)-1].ID, nil
		}
		e, err := se.event()
		if err != nil {
			return nil, "", fmt.Errorf("memstore: %s: %w", op, err)
		}
		out = append(out, e)
	}
	return out, "", nil
}

// DeleteEventsBefore deletes up to limit events whose Time is before
// before, oldest ID first, and returns how many. ErrInvalidArgument if
// limit is not positive.
func (s *Store) DeleteEventsBefore(ctx context.Context, before time.Time, limit int) (int, error) {
	const op = "delete events"
	if err := s.lock(ctx, op, sessiond.CheckLimit(limit)); err != nil {
		return 0, err
	}
	defer s.mu.Unlock()
	n := 0
	s.events = slices.DeleteFunc(s.events, func(se storedEvent) bool {
		if n < limit && se.e.Time.Before(before) {
			n++
			return true
		}
		return false
	})
	return n, nil
}
