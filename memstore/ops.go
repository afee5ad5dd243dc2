package memstore

import (
	"cmp"
	"context"
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

// wrap names the store and the operation in err.
func wrap(op string, err error) error { return fmt.Errorf("memstore: %s: %w", op, err) }

// AppendEvents stores events in the log; see sessiond.EventLog. An ID that
// exists already (or earlier in events) is skipped. ErrInvalidArgument, and
// nothing stored, if an event has no ID or Details that do not encode as
// JSON.
func (s *Store) AppendEvents(ctx context.Context, events ...sessiond.Event) error {
	const op = "append events"
	if err := ctxErr(ctx, op); err != nil {
		return err
	}
	if err := sessiond.CheckAppend(events); err != nil {
		return wrap(op, err)
	}
	stored := make([]storedEvent, len(events))
	for i, e := range events {
		se := storedEvent{e: e}
		se.e.Details = nil
		if len(e.Details) > 0 {
			b, err := json.Marshal(e.Details)
			if err != nil {
				return wrap(op, &sessiond.ArgumentError{Field: fmt.Sprintf("events[%d].details", i), Msg: err.Error()})
			}
			se.details = b
		}
		stored[i] = se
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return errClosed
	}
	for _, se := range stored {
		i, found := s.findEvent(se.e.ID)
		if !found {
			s.events = slices.Insert(s.events, i, se)
		}
	}
	return nil
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
	if err := ctxErr(ctx, op); err != nil {
		return nil, "", err
	}
	limit, err := q.PageSize()
	if err != nil {
		return nil, "", err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return nil, "", errClosed
	}
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
		if !eventMatches(&se.e, &q) {
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

func eventMatches(e *sessiond.Event, q *sessiond.EventQuery) bool {
	return (q.Subject == "" || e.Subject == q.Subject) &&
		(q.SessionID == "" || e.SessionID == q.SessionID) &&
		(q.Type == "" || e.Type == q.Type) &&
		(q.Since.IsZero() || !e.Time.Before(q.Since)) &&
		(q.Until.IsZero() || e.Time.Before(q.Until))
}

// DeleteEventsBefore deletes up to limit events whose Time is before
// before, oldest ID first, and returns how many. ErrInvalidArgument if
// limit is not positive.
func (s *Store) DeleteEventsBefore(ctx context.Context, before time.Time, limit int) (int, error) {
	const op = "delete events"
	if err := ctxErr(ctx, op); err != nil {
		return 0, err
	}
	if err := sessiond.CheckLimit(limit); err != nil {
		return 0, wrap(op, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return 0, errClosed
	}
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
	if err := ctxErr(ctx, op); err != nil {
		return err
	}
	if err := sessiond.CheckEnqueue(ds); err != nil {
		return wrap(op, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return errClosed
	}
	for _, d := range ds {
		if _, ok := s.deliveries[d.ID]; ok {
			continue
		}
		c := cloneDelivery(&d)
		c.State = sessiond.DeliveryPending
		s.deliveries[d.ID] = &c
	}
	return nil
}

// ClaimDeliveries returns up to limit pending deliveries due at now (their
// NextAttemptAt at or before it), longest due first, with NextAttemptAt
// moved to now+lease. ErrInvalidArgument if limit or lease is not positive.
func (s *Store) ClaimDeliveries(ctx context.Context, now time.Time, limit int, lease time.Duration) ([]sessiond.Delivery, error) {
	const op = "claim deliveries"
	if err := ctxErr(ctx, op); err != nil {
		return nil, err
	}
	if err := sessiond.CheckLimit(limit); err != nil {
		return nil, wrap(op, err)
	}
	if err := sessiond.CheckLease(lease); err != nil {
		return nil, wrap(op, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, errClosed
	}
	var due []*sessiond.Delivery
	for _, d := range s.deliveries {
		if d.State == sessiond.DeliveryPending && !d.NextAttemptAt.After(now) {
			due = append(due, d)
		}
	}
	slices.SortFunc(due, func(a, b *sessiond.Delivery) int {
		if c := a.NextAttemptAt.Compare(b.NextAttemptAt); c != 0 {
			return c
		}
		return cmp.Compare(a.ID, b.ID)
	})
	due = due[:min(limit, len(due))]
	out := make([]sessiond.Delivery, len(due))
	for i, d := range due {
		d.NextAttemptAt = now.Add(lease)
		out[i] = cloneDelivery(d)
	}
	return out, nil
}

// FinishDelivery records an attempt's outcome; see sessiond.Outbox.
// ErrNotFound if id is unknown, ErrInvalidArgument if state is not one of
// the three.
func (s *Store) FinishDelivery(ctx context.Context, id string, state sessiond.DeliveryState, attempts int, next time.Time, lastErr string, at time.Time) error {
	const op = "finish delivery"
	if err := ctxErr(ctx, op); err != nil {
		return err
	}
	if err := state.Validate(); err != nil {
		return wrap(op, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return errClosed
	}
	d, ok := s.deliveries[id]
	if !ok {
		return fmt.Errorf("memstore: %s: %w", op, sessiond.ErrNotFound)
	}
	d.State, d.Attempts, d.NextAttemptAt, d.LastError, d.UpdatedAt = state, attempts, next, lastErr, at
	return nil
}

// ListDeliveries returns up to limit deliveries in state, newest (by
// CreatedAt) first. ErrInvalidArgument if limit is not positive.
func (s *Store) ListDeliveries(ctx context.Context, state sessiond.DeliveryState, limit int) ([]sessiond.Delivery, error) {
	const op = "list deliveries"
	if err := ctxErr(ctx, op); err != nil {
		return nil, err
	}
	if err := sessiond.CheckLimit(limit); err != nil {
		return nil, wrap(op, err)
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return nil, errClosed
	}
	var in []*sessiond.Delivery
	for _, d := range s.deliveries {
		if d.State == state {
			in = append(in, d)
		}
	}
	slices.SortFunc(in, func(a, b *sessiond.Delivery) int {
		if c := b.CreatedAt.Compare(a.CreatedAt); c != 0 {
			return c
		}
		return cmp.Compare(b.ID, a.ID)
	})
	in = in[:min(limit, len(in))]
	out := make([]sessiond.Delivery, len(in))
	for i, d := range in {
		out[i] = cloneDelivery(d)
	}
	return out, nil
}

// CountDeliveries counts deliveries in state.
func (s *Store) CountDeliveries(ctx context.Context, state sessiond.DeliveryState) (int, error) {
	if err := ctxErr(ctx, "count deliveries"); err != nil {
		return 0, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return 0, errClosed
	}
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
	if err := ctxErr(ctx, op); err != nil {
		return 0, err
	}
	if err := sessiond.CheckLimit(limit); err != nil {
		return 0, wrap(op, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return 0, errClosed
	}
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

// RevokeMatching revokes every session live at at that f selects, with
// reason; see sessiond.BulkRevoker. It returns how many it revoked and
// their distinct subjects, sorted. ErrInvalidArgument if f sets nothing.
func (s *Store) RevokeMatching(ctx context.Context, f sessiond.RevokeFilter, at time.Time, reason sessiond.RevokeReason) (int, []string, error) {
	const op = "revoke matching"
	if err := ctxErr(ctx, op); err != nil {
		return 0, nil, err
	}
	if err := f.Validate(); err != nil {
		return 0, nil, wrap(op, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return 0, nil, errClosed
	}
	n := 0
	var subjects []string
	revoke := func(subject string, recs map[sessiond.SessionID]*record) {
		hit := false
		for _, rec := range recs {
			if !rec.s.Live(at) || !f.IssuedBefore.IsZero() && !rec.s.CreatedAt.Before(f.IssuedBefore) {
				continue
			}
			s.revoke(rec, at, reason)
			n++
			hit = true
		}
		if hit {
			subjects = append(subjects, subject)
		}
	}
	if len(f.Subjects) > 0 {
		seen := make(map[string]bool, len(f.Subjects))
		for _, subject := range f.Subjects {
			if !seen[subject] {
				seen[subject] = true
				revoke(subject, s.bySubject[subject])
			}
		}
	} else {
		for subject, recs := range s.bySubject {
			revoke(subject, recs)
		}
	}
	slices.Sort(subjects)
	return n, subjects, nil
}

var _ sessiond.LiveCounter = (*Store)(nil)

// CountLive counts live sessions by strategy (a scan: the memory store is
// for tests and single processes).
func (s *Store) CountLive(ctx context.Context, now time.Time) (map[sessiond.Strategy]int, error) {
	if err := ctxErr(ctx, "count live"); err != nil {
		return nil, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return nil, errClosed
	}
	out := map[sessiond.Strategy]int{}
	for _, rec := range s.sessions {
		if rec.s.Live(now) {
			out[rec.s.Strategy]++
		}
	}
	return out, nil
}
