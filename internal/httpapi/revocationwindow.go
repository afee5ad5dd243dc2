package httpapi

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/verifier/stream"
)

// logWindow is one node's read of the recent event log, shared by every
// revocation stream it serves. Each stream polls the log every second and
// after every revocation, three queries a time: with a stream per verifier
// instance (or many opened with one verify key) the store would answer
// thousands of identical queries a second. A stream following live asks
// only for the last Settle seconds, which one read serves for all.
//
// The one rule that keeps this exact: a caller gets the result of a read
// that began after it asked, never of one already under way (that read
// could have missed an event committed just before the caller asked, which
// the caller must see). Callers that ask while a read runs wait for it,
// then share the next one. A caller whose window starts before what the
// shared read covers (a client catching up from an older cursor) reads the
// log itself.
type logWindow struct {
	log  sessiond.EventLog
	now  func() time.Time
	span time.Duration // how far back a shared read goes

	mu        sync.Mutex
	started   uint64        // reads begun
	completed uint64        // the number of the read whose result is kept
	inflight  chan struct{} // closed when the read under way ends; nil: none
	from      time.Time     // the kept read covers events after this
	events    []sessiond.Event
	waiting   int // callers waiting for a read (tests)
}

// window returns rs's shared read, made at first use.
func (rs *RevocationStream) window() *logWindow {
	rs.windowOnce.Do(func() {
		poll := orDefault(rs.Poll, DefaultStreamPoll)
		rs.shared = &logWindow{log: rs.Log, now: rs.now,
			// A live stream's window starts Settle before its previous
			// poll, up to a poll interval (and a late tick) back.
			span: orDefault(rs.Settle, DefaultStreamSettle) + 2*poll + time.Second}
	})
	return rs.shared
}

// read returns the stream's events of the log after from[type] for each
// of streamTypes, in ID order, from a read that began after this call;
// ok is false when the shared read does not reach back to every from (the
// caller reads the log itself).
func (w *logWindow) read(ctx context.Context, from map[sessiond.EventType]time.Time) (events []sessiond.Event, ok bool, err error) {
	// A read begun from now on covers no more than this: an older from
	// reads its own at once, without waiting for one that cannot serve it.
	floor := w.now().Add(-w.span)
	for _, f := range from {
		if f.Before(floor) {
			return nil, false, nil
		}
	}
	w.mu.Lock()
	need := w.started + 1 // reads numbered from need on began after this call
	for w.completed < need {
		if w.inflight == nil {
			if err := w.lead(ctx); err != nil {
				w.mu.Unlock()
				return nil, false, err
			}
			continue
		}
		ch := w.inflight
		w.waiting++
		w.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			w.mu.Lock()
			w.waiting--
			w.mu.Unlock()
			return nil, false, ctx.Err()
		}
		w.mu.Lock()
		w.waiting--
	}
	defer w.mu.Unlock()
	cursors := make(map[sessiond.EventType]string, len(from))
	for typ, f := range from {
		if f.Before(w.from) {
			return nil, false, nil
		}
		cursors[typ] = stream.CursorAt(f)
	}
	for _, e := range w.events {
		if c, want := cursors[e.Type]; want && e.ID > c {
			events = append(events, e)
		}
	}
	return events, true, nil
}

// lead runs the next shared read with w.mu held on entry and on return
// (released while the store is read).
func (w *logWindow) lead(ctx context.Context) error {
	w.started++
	n := w.started
	done := make(chan struct{})
	w.inflight = done
	from := w.now().Add(-w.span)
	w.mu.Unlock()
	returned := false
	defer func() {
		if !returned {
			// The store panicked (the server recovers it for this one
			// request): end the read, or every stream of the node would
			// wait for it for ever instead of leading the next one.
			w.mu.Lock()
			w.inflight = nil
			close(done)
			w.mu.Unlock()
		}
	}()
	events, err := readLog(ctx, w.log, streamTypes, func(sessiond.EventType) time.Time { return from })
	returned = true
	w.mu.Lock()
	w.inflight = nil
	close(done)
	if err != nil {
		return err
	}
	w.completed, w.from, w.events = n, from, events
	return nil
}

// readLog reads the events of each type after from(type) from the log,
// every page, sorted by ID.
func readLog(ctx context.Context, log sessiond.EventLog, types []sessiond.EventType, from func(sessiond.EventType) time.Time) ([]sessiond.Event, error) {
	var events []sessiond.Event
	for _, typ := range types {
		cursor := stream.CursorAt(from(typ))
		for {
			page, next, err := log.QueryEvents(ctx, sessiond.EventQuery{Type: typ, Cursor: cursor, Limit: sessiond.MaxEventLimit})
			if err != nil {
				return nil, fmt.Errorf("read event log: %w", err)
			}
			events = append(events, page...)
			if next == "" {
				break
			}
			cursor = next
		}
	}
	slices.SortFunc(events, func(a, b sessiond.Event) int { return strings.Compare(a.ID, b.ID) })
	return events, nil
}
