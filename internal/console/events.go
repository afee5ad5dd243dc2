package console

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/internal/apikey"
	"github.com/sessiond/sessiond/internal/httpapi"
	"github.com/sessiond/sessiond/internal/subject"
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

// tailSettle is how late an event may reach the log after a later-stamped
// one: an event gets its time and ID before its transaction commits, and
// nodes' clocks differ, so resuming after the last ID shown would miss it
// for good. Every read of the live tail looks this far back and skips what
// it has shown. The revocation stream allows the same.
const tailSettle = httpapi.DefaultStreamSettle

// tailWindow is what the live tail has shown of the events that a read can
// still return: only those, so its memory is bounded by the events of
// about tailSettle. Not safe for concurrent use.
type tailWindow struct {
	start  time.Time            // the tail opened: older events were in the log or on the page
	latest time.Time            // the newest event time seen, or start
	from   time.Time            // where the next read starts; never moves back
	shown  map[string]time.Time // IDs seen at or after from, with their time
}

func newTailWindow(start time.Time) *tailWindow {
	return &tailWindow{start: start, latest: start, from: start.Add(-tailSettle), shown: map[string]time.Time{}}
}

// fresh records e and reports whether the tail should send it: not seen
// yet, and stamped when the tail was open (one stamped earlier and already
// in the log at the first read belongs to the events page, not the tail).
func (w *tailWindow) fresh(e sessiond.Event, first bool) bool {
	if _, ok := w.shown[e.ID]; ok {
		return false
	}
	w.shown[e.ID] = e.Time
	if e.Time.After(w.latest) {
		w.latest = e.Time
	}
	return !first || !e.Time.Before(w.start)
}

// advance moves the window after a read: tailSettle before the newest
// event seen, or before now when that is earlier (an event stamped by a
// node whose clock runs ahead must not hide the others' for as long), and
// forgets the IDs a read from there cannot return.
func (w *tailWindow) advance(now time.Time) {
	next := w.latest
	if now.Before(next) {
		next = now
	}
	if next = next.Add(-tailSettle); !next.After(w.from) {
		return
	}
	w.from = next
	for id, at := range w.shown {
		if at.Before(w.from) {
			delete(w.shown, id)
		}
	}
}

// eventRow is one event on the events page and in the live tail.
type eventRow struct {
	ID        string `json:"id"`
	Time      string `json:"time"`
	Type      string `json:"type"`
	Subject   string `json:"subject"`
	SessionID string `json:"session_id"`
	IP        string `json:"ip"`
	UserAgent string `json:"user_agent"`
	Details   string `json:"details"`
}

func toRow(e sessiond.Event) eventRow {
	details := ""
	if len(e.Details) > 0 {
		b, _ := json.Marshal(e.Details)
		details = string(b)
	}
	return eventRow{ID: e.ID, Time: when(e.Time), Type: printable(string(e.Type)), Subject: printable(e.Subject),
		SessionID: printable(string(e.SessionID)), IP: printable(e.Client.IP), UserAgent: printable(e.Client.UserAgent),
		Details: printable(details)}
}

type eventsView struct {
	Type, Subject, Since string
	Rows                 []eventRow
	Next                 string // the query of the next page, "" when none
	TailQuery            string
}

// eventQuery reads the filters of the events page and the live tail.
func eventQuery(r *http.Request, now time.Time) (sessiond.EventQuery, eventsView, error) {
	q := r.URL.Query()
	// The subject is exact and in the form the API stores (NFC), as on
	// the sessions page: " alice" is not "alice".
	v := eventsView{Type: strings.TrimSpace(q.Get("type")), Subject: q.Get("subject"), Since: strings.TrimSpace(q.Get("since"))}
	eq := sessiond.EventQuery{Type: sessiond.EventType(v.Type), Cursor: q.Get("cursor"), Limit: sessiond.DefaultEventLimit}
	// The subject's raw bound is loose: NFC can shrink it (one pasted
	// decomposed), and Clean holds it to 256 bytes in the form it is stored.
	if len(v.Type) > 64 || len(v.Subject) > 4*maxSubject || len(eq.Cursor) > 128 {
		return eq, v, errors.New("a filter is too long")
	}
	if v.Subject != "" {
		clean, err := subject.Clean("subject", v.Subject)
		if err != nil {
			return eq, v, errors.New("the subject is not a valid subject (at most 256 bytes, no control characters)")
		}
		v.Subject, eq.Subject = clean, clean
	}
	switch v.Since {
	case "":
		eq.Since = now.Add(-time.Hour)
	default:
		var err error
		// <input type="datetime-local"> sends minutes; RFC 3339 is accepted too.
		if eq.Since, err = time.ParseInLocation("2006-01-02T15:04", v.Since, time.UTC); err != nil {
			if eq.Since, err = time.Parse(time.RFC3339, v.Since); err != nil {
				return eq, v, errors.New("since is not a date and time")
			}
		}
	}
	return eq, v, nil
}

func (c *Console) eventsPage(w http.ResponseWriter, r *http.Request, key apikey.Key) {
	d := pageData{Title: "Events", Nav: "events", Operator: operatorName(key)}
	eq, v, err := eventQuery(r, c.o.Clock.Now())
	d.Data = &v
	if err != nil {
		d.Error = "Bad filter: " + err.Error() + "."
		c.pages.render(w, r, http.StatusBadRequest, "events", d)
		return
	}
	if c.o.Events == nil {
		d.Error = "This store keeps no event log."
		c.pages.render(w, r, http.StatusNotImplemented, "events", d)
		return
	}
	evs, next, err := c.o.Events.QueryEvents(r.Context(), eq)
	if err != nil {
		status := http.StatusServiceUnavailable
		d.Error = "Reading the event log failed; see the server log."
		if errors.Is(err, sessiond.ErrInvalidArgument) {
			status, d.Error = http.StatusBadRequest, "Bad filter."
		} else {
			c.log.ErrorContext(r.Context(), "console: query events", "err", err)
		}
		c.pages.render(w, r, status, "events", d)
		return
	}
	for _, e := range evs {
		v.Rows = append(v.Rows, toRow(e))
	}
	filters := r.URL.Query()
	filters.Del("cursor")
	v.TailQuery = filters.Encode()
	if next != "" {
		filters.Set("cursor", next)
		v.Next = filters.Encode()
	}
	c.pages.render(w, r, http.StatusOK, "events", d)
}

// eventTail streams events as they are logged (server-sent events), each a
// JSON eventRow whose text fields are already printable. It reads the
// event log every TailPoll, so every node's events appear, not only this
// one's: from tailSettle before the newest event seen, each event once
// (tailWindow). Once a poll, and after every read before it writes what
// that read found, it checks that the operator may still see them: a
// sign-out, the session's timeout or the key's revocation ends the stream.
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
		http.Error(w, "shutting down", http.StatusServiceUnavailable)
		return
	default:
	}
	win := newTailWindow(c.o.Clock.Now())
	eq.Limit = maxTailEvents
	rc := http.NewResponseController(w)
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	_, _ = fmt.Fprint(w, "retry: 3000\n\n")
	_ = rc.Flush()
	poll := time.NewTicker(c.o.TailPoll)
	defer poll.Stop()
	// A comment line every heartbeatEvery polls keeps the stream from
	// looking dead to a proxy's read timeout when no event comes.
	heartbeatEvery := max(1, int(tailHeartbeat/c.o.TailPoll))
	for polls := 1; ; polls++ {
		if polls%heartbeatEvery == 0 {
			_ = rc.SetWriteDeadline(time.Now().Add(10 * time.Second))
			if _, err := fmt.Fprint(w, ":\n\n"); err != nil {
				return
			}
		}
		// Not from the last ID shown: an event stamped before it can
		// commit after it (tailSettle). Event IDs sort by time, so the
		// cursor at from lets the store read its ID index from there.
		eq.Since, eq.Cursor = win.from, stream.CursorAt(win.from)
		for checked := false; ; {
			evs, next, err := c.o.Events.QueryEvents(r.Context(), eq)
			if err != nil {
				if r.Context().Err() == nil {
					c.log.WarnContext(r.Context(), "console: tail events", "err", err)
				}
				break
			}
			fresh := slices.DeleteFunc(evs, func(e sessiond.Event) bool { return !win.fresh(e, polls == 1) })
			// Asked after the read, before the write: an event logged
			// after the key was revoked or the operator signed out was
			// read after that, so this check sees the change first. Once
			// a poll, and for every page with something to send: most
			// pages of the settle window hold only events already sent.
			if !checked || len(fresh) > 0 {
				if !c.stillOperator(r.Context(), sess.ID, key.ID) {
					return
				}
				checked = true
			}
			_ = rc.SetWriteDeadline(time.Now().Add(10 * time.Second))
			for _, e := range fresh {
				b, _ := json.Marshal(toRow(e))
				if _, err := fmt.Fprintf(w, "id: %s\ndata: %s\n\n", e.ID, b); err != nil {
					return
				}
			}
			if err := rc.Flush(); err != nil {
				return
			}
			if next == "" {
				break
			}
			eq.Cursor = next
		}
		win.advance(c.o.Clock.Now())
		select {
		case <-r.Context().Done():
			return
		case <-c.ending:
			return
		case <-poll.C:
		}
	}
}
