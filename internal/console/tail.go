package console

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/internal/apikey"
	"github.com/sessiond/sessiond/internal/httpapi"
	"github.com/sessiond/sessiond/verifier/stream"
)

// DefaultTailPoll is how often the live tail reads the event log.
const DefaultTailPoll = time.Second

// tailHeartbeat is about how often the live tail sends a comment when no
// event comes: well under the 60 s a proxy commonly waits for a response
// to say something (NGINX's proxy_read_timeout).
const tailHeartbeat = 15 * time.Second

// maxTailEvents bounds one read of the event log by the live tail.
const maxTailEvents = 100

// maxTailPages*maxTailEvents bounds the events one poll sends: past it,
// more than an operator can follow, the tail skips to now and says so
// (event: missed), instead of reading back to back and falling ever
// further behind.
const maxTailPages = 5

// maxTailShown caps the IDs a tail remembers to send each event once.
// When the window holds more, the tail skips to now and says so.
const maxTailShown = 5000

// tailRereadEvery: every this many polls the tail reads its whole window
// again for events that committed late; the polls between read only after
// the newest event read. The window is longer by the polls between, so an
// event may still be as late as tailSettle.
const tailRereadEvery = 3

// tailSettle is how late an event may reach the log after a later-stamped
// one: an event gets its time and ID before its transaction commits, and
// nodes' clocks differ, so reading only after the last ID shown would miss
// it for good. The revocation stream allows the same.
const tailSettle = httpapi.DefaultStreamSettle

// How far a Last-Event-ID may reach: back, at most tailResumeMax (older:
// start afresh and say events may have been missed; a reconnect after a
// blip or a proxy's idle timeout comes within seconds); ahead of this
// node's clock, at most tailResumeAhead (another node's clock ahead).
const (
	tailResumeMax   = 5 * time.Minute
	tailResumeAhead = time.Minute
)

// maxLastEventID bounds the Last-Event-ID header looked at, as the
// revocation stream does; a cursor is 30 bytes.
const maxLastEventID = 64

// Why a tail says events may have been missed (the "reason" of an
// `event: missed`).
const (
	missedSkipped = "skipped" // more events than the tail sends: it skipped to now
	missedExpired = "expired" // Last-Event-ID older than tailResumeMax
	missedInvalid = "invalid" // Last-Event-ID not a cursor of this tail, or ahead of the clocks
)

// missedNotice is the data of an `event: missed`: events matching the
// filters from since (empty when unknown) until until may not have been
// sent; the events page shows them.
type missedNotice struct {
	Reason string `json:"reason"`
	Since  string `json:"since,omitempty"`
	Until  string `json:"until"`
}

// Why the live tail cannot send events now (the "reason" of an
// `event: unavailable`). The stream goes on, or ends with a retry: never
// an error status, after which the browser's EventSource stops for good.
const (
	unavailableStore    = "store"    // the store does not answer: polls go on, and say when it is back
	unavailableRead     = "read"     // reading the log failed otherwise: polls go on
	unavailableShutdown = "shutdown" // this node is shutting down: the browser reconnects, to a node still serving
)

// unavailableNotice is the data of an `event: unavailable`, from since;
// `event: available` (with since and until) says the tail reads the log
// again. A tail also opens with `event: available` (no fields): it reads
// the log, where a tail this node cannot serve says unavailable.
type unavailableNotice struct {
	Reason string `json:"reason,omitempty"`
	Since  string `json:"since,omitempty"`
	Until  string `json:"until,omitempty"`
}

// tailRetryMillis is the SSE retry: how long the browser waits before it
// reconnects a live tail that ended.
const tailRetryMillis = 3000

// tailLater answers a live tail that cannot run now with a stream that
// says why and ends: the browser's EventSource reconnects after the retry
// with its Last-Event-ID (the answer carries no id), where an error status
// (503) ended it for good, and the page kept saying it was retrying.
func tailLater(w http.ResponseWriter, reason string, now time.Time) {
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	b, _ := json.Marshal(unavailableNotice{Reason: reason, Since: when(now)})
	_, _ = fmt.Fprintf(w, "retry: %d\nevent: unavailable\ndata: %s\n\n", tailRetryMillis, b)
}

// tailCursor reports whether c is a cursor of the live tail: an event ID
// (sessiond.NewEventID) or stream.CursorAt, the form of the events API's
// cursor and the revocation stream's Last-Event-ID without its ".n".
func tailCursor(c string) (time.Time, bool) {
	if len(c) > maxLastEventID || strings.IndexByte(c, '.') >= 0 {
		return time.Time{}, false
	}
	_, t, err := stream.ParseCursor(c)
	return t, err == nil
}

// tailWindow is what the live tail has read of the events that a read can
// still return, and its position in the log. Its memory is bounded by
// maxTailShown. Not safe for concurrent use.
type tailWindow struct {
	latest time.Time            // the newest event time seen, or where the tail started
	from   time.Time            // re-reads start here; moves back only with this node's clock (stepBack)
	back   time.Duration        // how far from stays behind latest (or now)
	shown  map[string]time.Time // IDs read at or after from, with their time
	// hw is the high-water cursor, each message's SSE id: every event at
	// or before it was sent, or was in the log before the tail started,
	// or was skipped with a notice. A resume sends only what is after it.
	hw string
	// base: what the first read finds at or before it was shown before
	// (on the events page, or by the connection this one resumes).
	base string
	// gap: re-reads start after it. Events at or before it may have been
	// skipped unremembered, and must not come back as late ones.
	gap string
	// ceil: hw never moves past it, the cursor just after this node's
	// clock at the current poll (unset: no bound). An event stamped by a
	// node whose clock runs ahead would otherwise carry hw into the
	// future, and a resume from there would take the other nodes' events
	// logged meanwhile, stamped earlier, for sent.
	ceil string
}

// newTailWindow starts a window at base, a cursor whose time is at, on a
// node whose clock says now.
func newTailWindow(at time.Time, base string, now time.Time, poll time.Duration) *tailWindow {
	back := tailSettle + (tailRereadEvery-1)*poll
	return &tailWindow{latest: at, from: earlier(at, now).Add(-back), back: back, shown: map[string]time.Time{}, hw: base, base: base}
}

// tailVerdict is what the tail does with an event a read returned.
type tailVerdict int

const (
	tailSkip   tailVerdict = iota // sent already, or before base at the first read
	tailSend                      // new: send it
	tailFull                      // the window is full: skip to now
	tailToBase                    // the window is full of events before base: read from base on
)

// seen reports whether e was read before.
func (w *tailWindow) seen(e sessiond.Event) bool {
	_, ok := w.shown[e.ID]
	return ok
}

// take records e and says what to do with it.
func (w *tailWindow) take(e sessiond.Event, first bool) tailVerdict {
	if _, ok := w.shown[e.ID]; ok {
		return tailSkip
	}
	before := first && e.ID <= w.base
	if len(w.shown) >= maxTailShown {
		if before {
			// Only late commits from before base would be caught by
			// remembering these: give that up rather than the new ones.
			w.gap = max(w.gap, w.base)
			for id := range w.shown {
				if id <= w.base {
					delete(w.shown, id)
				}
			}
			return tailToBase
		}
		return tailFull
	}
	w.shown[e.ID] = e.Time
	if e.Time.After(w.latest) {
		w.latest = e.Time
	}
	// An ID not of NewEventID's form never moves the cursor: it could
	// sort after every real one and hide them from the next reads.
	if _, ok := tailCursor(e.ID); ok && e.ID > w.hw {
		w.hw = e.ID
		if w.ceil != "" && w.hw > w.ceil {
			w.hw = w.ceil // the ahead event is sent again after a resume, not the others lost
		}
	}
	if before {
		return tailSkip
	}
	return tailSend
}

// skip moves the tail to now: what it has not read up to now is not sent,
// nor taken later for an event that committed late.
func (w *tailWindow) skip(now time.Time) {
	w.hw = max(w.hw, stream.CursorAt(now))
	w.gap = w.hw
	// The window moves on as if the tail had read up to now, else a full
	// one would never let go of what it holds.
	if now.After(w.latest) {
		w.latest = now
	}
}

// advance moves the window after a poll: back before the newest event
// seen, or before now when that is earlier (an event stamped by a node
// whose clock runs ahead must not hide the others' for as long), and
// forgets the IDs a read from there cannot return. complete: the poll read
// up to the end of the log, so the cursor may move up to back before now:
// an event stamped earlier that is not in the log yet is later than the
// tail allows for. An idle tail's id stays recent.
func (w *tailWindow) advance(now time.Time, complete bool) {
	next := earlier(w.latest, now).Add(-w.back)
	if next.After(w.from) {
		w.from = next
		for id, at := range w.shown {
			if at.Before(w.from) {
				delete(w.shown, id)
			}
		}
	}
	if complete {
		w.hw = max(w.hw, stream.CursorAt(now.Add(-w.back)))
	}
}

// stepBack moves the window back to from, back before this node's clock,
// which is behind the window: it stepped back (NTP corrected a clock that
// ran ahead). The events it stamps from now on, and those of the nodes in
// step with it, would fall before the window and the cursor, hidden until
// the clock caught up with where it was. The cursor moves back with the
// window, so that a resume from it does not take them for sent either.
// What a read from there returns again is skipped while remembered, and
// sent again once forgotten: at least once, as the revocation stream does
// after a step (the page shows an event once). base moves back too: before
// the first poll the events stamped after the step fall at or before it,
// and the first read would take them for ones shown before the tail
// started; what it then finds there that was shown before is sent again.
func (w *tailWindow) stepBack(from time.Time) {
	w.from = from
	c := stream.CursorAt(from)
	w.hw = min(w.hw, c)
	w.base = min(w.base, c)
	if w.gap > c {
		w.gap = c
	}
}

func earlier(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

// tailMessage is one server-sent event of the live tail: a row, or (event
// "missed") a missedNotice.
type tailMessage struct {
	id    string
	event string
	data  any
}

func (m tailMessage) writeTo(w http.ResponseWriter) error {
	b, err := json.Marshal(m.data)
	if err != nil {
		return err
	}
	ev := ""
	if m.event != "" {
		ev = "event: " + m.event + "\n"
	}
	_, err = fmt.Fprintf(w, "id: %s\n%sdata: %s\n\n", m.id, ev, b)
	return err
}

// tailer reads the log for one live tail.
type tailer struct {
	log   sessiond.EventLog
	q     sessiond.EventQuery // the filters
	win   *tailWindow
	polls int
}

// errTailRead: a read of the event log failed; the next poll tries again.
var errTailRead = errors.New("read the event log")

// poll reads what the log holds after the tail's cursor, or every
// tailRereadEvery polls from the start of its window, and hands each
// page's messages to send (also when there are none: send decides when to
// check the operator and flushes). It returns send's error, or one that
// wraps errTailRead.
func (t *tailer) poll(ctx context.Context, now time.Time, send func([]tailMessage) error) error {
	w := t.win
	// Counted when done: a first read that failed is made again as the
	// first, or what it had not read would be taken for late events.
	first := t.polls == 0
	if back := now.Add(-w.back); back.Before(w.from) {
		w.stepBack(back) // never otherwise: from trails the clock by back at least
	}
	q := t.q
	// Just after now: an event stamped in this microsecond sorts before it.
	w.ceil = stream.CursorAt(now.Add(time.Microsecond))
	q.Since, q.Limit, q.Cursor = w.from, maxTailEvents, w.hw
	if t.polls%tailRereadEvery == 0 {
		q.Cursor = max(stream.CursorAt(w.from), w.gap)
	}
	// What a poll reads is bounded by what it may send and what the
	// window remembers: past either, it skips to now.
	complete, sent := false, 0
	for {
		evs, next, err := t.log.QueryEvents(ctx, q)
		if err != nil {
			return fmt.Errorf("%w: %w", errTailRead, err)
		}
		var msgs []tailMessage
		verdict := tailSkip
		for _, e := range evs {
			if sent == maxTailPages*maxTailEvents && !w.seen(e) {
				verdict = tailFull // as many as a poll sends
			} else {
				verdict = w.take(e, first)
			}
			switch verdict {
			case tailSend:
				sent++
				msgs = append(msgs, tailMessage{id: w.hw, data: toRow(e)})
			case tailFull:
				since := w.hw
				w.skip(now)
				msgs = append(msgs, t.missed(since, now))
			}
			if verdict == tailFull || verdict == tailToBase {
				break
			}
		}
		if err := send(msgs); err != nil {
			return err
		}
		if verdict == tailFull {
			break
		}
		switch {
		case verdict == tailToBase:
			next = w.base
		case next == "":
			complete = true
		}
		if complete {
			break
		}
		q.Cursor = next
	}
	w.advance(now, complete)
	t.polls++
	return nil
}

// missed is the notice that events after the cursor since until now were
// skipped.
func (t *tailer) missed(since string, now time.Time) tailMessage {
	n := missedNotice{Reason: missedSkipped, Until: when(now)}
	if at, ok := tailCursor(since); ok {
		n.Since = when(at)
	}
	return tailMessage{id: t.win.hw, event: "missed", data: n}
}

// resume reads the request's Last-Event-ID: the window to start at, and a
// notice when it could not be resumed from. Never an error response: an
// EventSource that gets one stops reconnecting for good.
func resume(r *http.Request, now time.Time, poll time.Duration) (*tailWindow, *missedNotice) {
	fresh := newTailWindow(now, stream.CursorAt(now), now, poll)
	last := r.Header.Values("Last-Event-ID")
	if len(last) == 0 || len(last) == 1 && last[0] == "" {
		return fresh, nil
	}
	at, ok := tailCursor(last[0])
	switch {
	case !ok || len(last) > 1 || at.After(now.Add(tailResumeAhead)):
		// Not written by this tail, or by no clock of ours: its events
		// cannot be told apart from the ones shown.
		return fresh, &missedNotice{Reason: missedInvalid, Until: when(now)}
	case at.Before(now.Add(-tailResumeMax)):
		return fresh, &missedNotice{Reason: missedExpired, Since: when(at), Until: when(now)}
	}
	return newTailWindow(at, last[0], now, poll), nil
}

// eventTail streams events as they are logged (server-sent events), each a
// JSON eventRow whose text fields are already printable, with an SSE id
// from which a reconnect resumes (Last-Event-ID): the events logged while
// disconnected are sent, none twice. It reads the event log every
// TailPoll, so every node's events appear, not only this one's; a window
// back from the newest event seen catches those that commit late
// (tailWindow). More events than it can send, or a Last-Event-ID it cannot
// resume from, it tells the page with an `event: missed`. Once a poll, and
// after every read before it writes what that read found, it checks that
// the operator may still see them: a sign-out, the session's timeout or
// the key's revocation ends the stream.
func (c *Console) eventTail(w http.ResponseWriter, r *http.Request, key apikey.Key) {
	sess, _ := sessiond.FromContext(r.Context())
	if c.o.Events == nil {
		http.Error(w, "no event log", http.StatusNotImplemented)
		return
	}
	eq, _, err := eventQuery(r, c.o.Clock.Now())
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	select {
	case <-c.ending:
		tailLater(w, unavailableShutdown, c.o.Clock.Now())
		return
	default:
	}
	now := c.o.Clock.Now()
	win, notice := resume(r, now, c.o.TailPoll)
	t := &tailer{log: c.o.Events, q: sessiond.EventQuery{Subject: eq.Subject, Type: eq.Type}, win: win}
	rc := http.NewResponseController(w)
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodHead {
		// GET's headers and no tail: its writes would go nowhere, so it
		// would poll the log and hold the connection until the client
		// hangs up, and never learn that it did once the client's next
		// request on the connection is read.
		return
	}
	// The id at once: a stream that drops before its first event resumes
	// from here too.
	_, _ = fmt.Fprintf(w, "retry: %d\nid: %s\n\n", tailRetryMillis, win.hw)
	// Then that this tail reads the log: a stream opening says nothing of
	// that, since a node that cannot serve the tail opens one too (and
	// says unavailable). The page, which said "Watching" at every open,
	// alternated with the shutdown notice at each reconnect while its
	// node shut down; now it keeps a notice until this.
	_ = tailMessage{id: win.hw, event: "available", data: unavailableNotice{}}.writeTo(w)
	if notice != nil {
		_ = tailMessage{id: win.hw, event: "missed", data: notice}.writeTo(w)
	}
	_ = rc.Flush()
	sentID := win.hw
	poll := time.NewTicker(c.o.TailPoll)
	defer poll.Stop()
	// A comment line every heartbeatEvery polls keeps the stream from
	// looking dead to a proxy's read timeout when no event comes; it
	// carries the cursor when that moved without an event.
	heartbeatEvery := max(1, int(tailHeartbeat/c.o.TailPoll))
	// down: since when the log could not be read (nil: it could). The page
	// hears of it once, and again when a read succeeds: a tail that went
	// quiet said "Watching for new events." all through a store outage.
	var down *unavailableNotice
	// say writes a notice that no event comes with; its id is the last one
	// sent, so that a resume from it loses nothing written after.
	say := func(event string, n unavailableNotice) error {
		_ = rc.SetWriteDeadline(time.Now().Add(10 * time.Second))
		if err := (tailMessage{id: sentID, event: event, data: n}).writeTo(w); err != nil {
			return err
		}
		return rc.Flush()
	}
	for polls := 1; ; polls++ {
		if polls%heartbeatEvery == 0 {
			beat := ":\n\n"
			if win.hw != sentID {
				beat, sentID = ":\nid: "+win.hw+"\n\n", win.hw
			}
			_ = rc.SetWriteDeadline(time.Now().Add(10 * time.Second))
			if _, err := fmt.Fprint(w, beat); err != nil {
				return
			}
		}
		checked := false
		now := c.o.Clock.Now()
		// Each poll's reads are bounded as a page's are: a store that
		// hangs (a failover, a partition) is then said to be unavailable,
		// where the tail waited on it in silence. The stream itself is
		// not bounded.
		ctx, cancel := r.Context(), context.CancelFunc(func() {})
		if c.o.RequestDeadline > 0 {
			ctx, cancel = context.WithTimeout(ctx, c.o.RequestDeadline)
		}
		err := t.poll(ctx, now, func(msgs []tailMessage) error {
			// Asked after the read, before the write: an event logged
			// after the key was revoked or the operator signed out was
			// read after that, so this check sees the change first. Once
			// a poll, and for every page with something to send: most
			// pages of a re-read hold only events already sent.
			if !checked || len(msgs) > 0 {
				if !c.stillOperator(r.Context(), sess.ID, key.ID) {
					return errNotOperator
				}
				checked = true
			}
			if down != nil {
				// Before this read's rows: they come after it.
				if err := say("available", unavailableNotice{Since: down.Since, Until: when(now)}); err != nil {
					return err
				}
				down = nil
			}
			_ = rc.SetWriteDeadline(time.Now().Add(10 * time.Second))
			for _, m := range msgs {
				if err := m.writeTo(w); err != nil {
					return err
				}
				sentID = m.id
			}
			return rc.Flush()
		})
		cancel()
		switch {
		case errors.Is(err, errTailRead):
			if r.Context().Err() != nil {
				return
			}
			// The stream stays open (the next poll reads again): only
			// the operator's end ends it meanwhile.
			if !c.stillOperator(r.Context(), sess.ID, key.ID) {
				return
			}
			reason := unavailableRead
			if errors.Is(err, sessiond.ErrStoreUnavailable) || errors.Is(err, context.DeadlineExceeded) {
				reason = unavailableStore
			}
			if down == nil || down.Reason != reason {
				// Logged once an outage a tail, not once a poll: every
				// open tail polls each second.
				c.log.WarnContext(r.Context(), "console: tail events", "err", err)
				down = &unavailableNotice{Reason: reason, Since: when(now)}
				if say("unavailable", *down) != nil {
					return
				}
			} else {
				// A comment each failed poll: polls that wait out their
				// bound come too seldom for the heartbeat's count.
				_ = rc.SetWriteDeadline(time.Now().Add(10 * time.Second))
				if _, err := fmt.Fprint(w, ":\n\n"); err != nil || rc.Flush() != nil {
					return
				}
			}
		case err != nil:
			return
		}
		select {
		case <-r.Context().Done():
			return
		case <-c.ending:
			_ = say("unavailable", unavailableNotice{Reason: unavailableShutdown, Since: when(c.o.Clock.Now())})
			return
		case <-poll.C:
		}
	}
}
