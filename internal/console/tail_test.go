package console_test

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/internal/console"
	"github.com/sessiond/sessiond/verifier/stream"
)

// sseMessage is one server-sent event: a block with data.
type sseMessage struct {
	ID, Event, Data string
}

// tailRow is the part of a live tail row the tests read.
type tailRow struct {
	ID      string `json:"id"`
	Subject string `json:"subject"`
}

func (m sseMessage) row(t *testing.T) tailRow {
	t.Helper()
	if m.Event != "" {
		t.Fatalf("got event %q (%s); want an event row", m.Event, m.Data)
	}
	var r tailRow
	if err := json.Unmarshal([]byte(m.Data), &r); err != nil {
		t.Fatalf("row %q: %v", m.Data, err)
	}
	return r
}

// sseReader reads server-sent events as an EventSource does, keeping the
// last event ID it would reconnect with.
type sseReader struct {
	lines  *bufio.Scanner
	lastID string
}

func newSSEReader(r io.Reader) *sseReader { return &sseReader{lines: bufio.NewScanner(r)} }

// next returns the next block with data; false when the stream ends.
func (s *sseReader) next() (sseMessage, bool) {
	var m sseMessage
	var data []string
	for s.lines.Scan() {
		line := s.lines.Text()
		if line == "" {
			if data != nil {
				m.Data = strings.Join(data, "\n")
				return m, true
			}
			m = sseMessage{}
			continue
		}
		field, value, _ := strings.Cut(line, ":")
		value = strings.TrimPrefix(value, " ")
		switch field {
		case "id":
			s.lastID, m.ID = value, value
		case "event":
			m.Event = value
		case "data":
			data = append(data, value)
		}
	}
	return m, false
}

// readID reads until the stream sends an id, and returns it.
func (s *sseReader) readID() string {
	for s.lastID == "" && s.lines.Scan() {
		if v, ok := strings.CutPrefix(s.lines.Text(), "id: "); ok {
			s.lastID = v
		}
	}
	return s.lastID
}

func (s *sseReader) err() error { return s.lines.Err() }

// queryLog is an event log that keeps the queries it was asked.
type queryLog struct {
	sessiond.EventLog
	mu      sync.Mutex
	queries []sessiond.EventQuery
}

func (l *queryLog) QueryEvents(ctx context.Context, q sessiond.EventQuery) ([]sessiond.Event, string, error) {
	l.mu.Lock()
	l.queries = append(l.queries, q)
	l.mu.Unlock()
	return l.EventLog.QueryEvents(ctx, q)
}

func (l *queryLog) asked() []sessiond.EventQuery {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]sessiond.EventQuery(nil), l.queries...)
}

// openTail opens the live tail with c, resuming from lastID when it is
// not empty, and fails the test unless it streams. The stream ends with
// the returned cancel, or with the test.
func (f *fixture) openTail(c *http.Client, lastID string) (*sseReader, context.CancelFunc) {
	f.t.Helper()
	// Fail, not hang, when an event never comes.
	ctx, cancel := context.WithTimeout(f.t.Context(), 30*time.Second)
	req, _ := http.NewRequestWithContext(ctx, "GET", f.srv.URL+"/console/events/tail", nil)
	req.Header.Set("Accept", "text/event-stream")
	if lastID != "" {
		req.Header.Set("Last-Event-ID", lastID)
	}
	resp, err := c.Do(req)
	if err != nil {
		cancel()
		f.t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/event-stream" {
		resp.Body.Close()
		cancel()
		f.t.Fatalf("tail (Last-Event-ID %q): %d %s", lastID, resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	f.t.Cleanup(func() { resp.Body.Close() })
	return tailOpened(f.t, resp.Body), func() { cancel(); resp.Body.Close() }
}

// tailOpened reads the opening of a live tail's stream r and returns the
// reader for what follows. Every tail opens saying that it reads the log
// (event: available, no fields), before any row or notice: the page keeps
// a notice it showed (the node shutting down) until then.
func tailOpened(t *testing.T, r io.Reader) *sseReader {
	t.Helper()
	s := newSSEReader(r)
	if m, ok := s.next(); !ok || m.Event != "available" || m.Data != "{}" || m.ID == "" {
		t.Fatalf("the tail opened with %+v (open: %v, %v); want event available, data {}, with an id", m, ok, s.err())
	}
	return s
}

// logAt logs an event of subject stamped at and returns its ID.
func (f *fixture) logAt(at time.Time, subject string) string {
	f.t.Helper()
	id := sessiond.NewEventID(at)
	if err := f.store.AppendEvents(f.t.Context(), sessiond.Event{ID: id, Time: at, Type: sessiond.EventSessionCreated, Subject: subject}); err != nil {
		f.t.Fatal(err)
	}
	return id
}

// rowsUntil reads the tail until it sends the event id and returns the
// rows' event IDs; it fails on a notice.
func rowsUntil(t *testing.T, s *sseReader, id string) []string {
	t.Helper()
	var ids []string
	for {
		m, ok := s.next()
		if !ok {
			t.Fatalf("the tail ended before sending %s (sent %v): %v", id, ids, s.err())
		}
		ids = append(ids, m.row(t).ID)
		if ids[len(ids)-1] == id {
			return ids
		}
	}
}

// TestConsole_EventTailResume: the browser's EventSource reconnects with
// the last id the tail sent (Last-Event-ID), and the tail goes on from
// there: the events logged while it was disconnected are sent, and none
// it had sent is sent again, an event that committed late included.
func TestConsole_EventTailResume(t *testing.T) {
	for _, tc := range []struct {
		name   string
		before bool // the first stream sends events before it drops
	}{
		{"after events", true},
		{"before any event", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			c := f.signedIn()
			sent := map[string]int{}
			count := func(ids []string) {
				for _, id := range ids {
					sent[id]++
				}
			}
			first, drop := f.openTail(c, "")
			// The id comes with the stream's first bytes, before any event.
			first.readID()
			var shown []string
			if tc.before {
				f.clock.Advance(2 * time.Second)
				later := f.logAt(f.clock.Now(), "alice")
				count(rowsUntil(t, first, later))
				// Stamped before later, committed after it was sent.
				late := f.logAt(f.clock.Now().Add(-time.Second), "alice")
				count(rowsUntil(t, first, late))
				shown = []string{later, late}
			}
			lastID := first.lastID
			if lastID == "" {
				t.Fatal("the tail sent no id to resume from")
			}
			drop()

			// Disconnected: the browser waits (retry) and reconnects.
			f.clock.Advance(3 * time.Second)
			missed := []string{f.logAt(f.clock.Now(), "bob"), f.logAt(f.clock.Now().Add(time.Millisecond), "carol")}
			f.clock.Advance(time.Second)
			second, _ := f.openTail(c, lastID)
			count(rowsUntil(t, second, missed[1]))
			after := f.logAt(f.clock.Now().Add(time.Millisecond), "dave")
			count(rowsUntil(t, second, after))
			for _, id := range append(append(shown, missed...), after) {
				if sent[id] != 1 {
					t.Errorf("event %s sent %d times; want once (sent %v)", id, sent[id], sent)
				}
			}
			if len(sent) != len(shown)+len(missed)+1 {
				t.Errorf("sent %v; want only %v, %v and %s", sent, shown, missed, after)
			}
		})
	}
}

// TestConsole_EventTailBadLastEventID: a Last-Event-ID the tail cannot
// resume from (not its cursor, oversized, tampered, ahead of the clocks,
// or older than it reaches) starts the tail afresh with an `event: missed`
// that says so, never an error response (an EventSource stops
// reconnecting after one), and never a read of the log further back than
// a fresh tail's.
func TestConsole_EventTailBadLastEventID(t *testing.T) {
	opened := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
	valid := sessiond.NewEventID(opened.Add(-time.Second))
	for _, tc := range []struct {
		name   string
		lastID []string
		reason string
	}{
		{"not a cursor", []string{"garbage"}, "invalid"},
		{"the events page's legacy ID", []string{"01JEVT0000000000000000000A"}, "invalid"},
		{"oversized", []string{valid + strings.Repeat("0", 100)}, "invalid"},
		{"one character more", []string{valid + "0"}, "invalid"},
		{"a revocation stream sub-event", []string{valid + ".2"}, "invalid"},
		{"upper case", []string{strings.ToUpper(valid)}, "invalid"},
		{"not base32hex", []string{valid[:len(valid)-1] + "z"}, "invalid"},
		{"past the year 146,000", []string{"evt_" + strings.Repeat("v", 26)}, "invalid"},
		{"the beginning of time", []string{stream.CursorAt(time.Unix(0, 0))}, "expired"},
		{"in the future", []string{stream.CursorAt(opened.Add(2 * time.Minute))}, "invalid"},
		{"older than the tail reaches", []string{stream.CursorAt(opened.Add(-6 * time.Minute))}, "expired"},
		{"twice", []string{valid, valid}, "invalid"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var log *queryLog
			f := newFixtureWith(t, func(f *fixture, o *console.Options) {
				log = &queryLog{EventLog: f.store}
				o.Events = log
			})
			c := f.signedIn()
			// Logged in the stretch the bad ID points at: a fresh tail
			// does not send it.
			before := f.logAt(opened.Add(-2*time.Second), "before")
			ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
			defer cancel()
			req, _ := http.NewRequestWithContext(ctx, "GET", f.srv.URL+"/console/events/tail", nil)
			for _, v := range tc.lastID {
				req.Header.Add("Last-Event-ID", v)
			}
			resp, err := c.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/event-stream" {
				t.Fatalf("tail with Last-Event-ID %.40q: %d %s; want 200 text/event-stream", tc.lastID, resp.StatusCode, resp.Header.Get("Content-Type"))
			}
			s := tailOpened(t, resp.Body)
			m, ok := s.next()
			var n struct{ Reason, Since, Until string }
			if ok {
				_ = json.Unmarshal([]byte(m.Data), &n)
			}
			if !ok || m.Event != "missed" || n.Reason != tc.reason || n.Until == "" {
				t.Fatalf("first message %+v; want event missed, reason %q", m, tc.reason)
			}
			if s.lastID != stream.CursorAt(opened) {
				t.Errorf("id after the notice %q; want a fresh tail's, %q", s.lastID, stream.CursorAt(opened))
			}
			f.clock.Advance(time.Second)
			after := f.logAt(f.clock.Now(), "after")
			if ids := rowsUntil(t, s, after); len(ids) != 1 {
				t.Errorf("sent %v; want only %s (not %s, before the tail)", ids, after, before)
			}
			earliest := opened.Add(-time.Minute)
			for _, q := range log.asked() {
				if q.Since.Before(earliest) || q.Cursor < stream.CursorAt(earliest) {
					t.Errorf("the tail read the log from %v (cursor %q); want nothing before %v", q.Since, q.Cursor, earliest)
				}
			}
		})
	}
}

// TestConsole_EventTailResumeChecksOperator: a reconnect that carries a
// Last-Event-ID is a request like any other: without the console cookie,
// with the cookie from another browser, after a sign-out or with the key
// revoked it gets no stream.
func TestConsole_EventTailResumeChecksOperator(t *testing.T) {
	const chrome = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"
	for _, tc := range []struct {
		name   string
		before func(f *fixture, c *http.Client, ua *string) *http.Client // returns the client that reconnects
	}{
		{"no cookie", func(f *fixture, _ *http.Client, _ *string) *http.Client { return f.browser() }},
		{"another browser", func(_ *fixture, c *http.Client, ua *string) *http.Client { *ua = "curl/8.5.0"; return c }},
		{"signed out", func(f *fixture, c *http.Client, _ *string) *http.Client {
			if resp, _ := f.do(c, "POST", "/console/signout", nil, "same-origin"); resp.StatusCode != http.StatusSeeOther {
				f.t.Fatalf("sign out: %d", resp.StatusCode)
			}
			return c
		}},
		{"key revoked", func(f *fixture, c *http.Client, _ *string) *http.Client {
			if err := f.keys.Revoke(f.t.Context(), f.adminK.ID); err != nil {
				f.t.Fatal(err)
			}
			return c
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			c := f.browser()
			ua := chrome
			c.Transport = uaTransport{ua: &ua, next: c.Transport}
			f.signIn(c)
			lastID, _ := f.openTail(c, "")
			lastID.readID()
			f.clock.Advance(time.Second)
			f.logAt(f.clock.Now(), "secret@example.com")
			again := tc.before(f, c, &ua)
			ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
			defer cancel()
			req, _ := http.NewRequestWithContext(ctx, "GET", f.srv.URL+"/console/events/tail", nil)
			req.Header.Set("Accept", "text/event-stream")
			req.Header.Set("Last-Event-ID", lastID.lastID)
			resp, err := again.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
			if resp.StatusCode == http.StatusOK || strings.Contains(string(b), "secret@example.com") {
				t.Errorf("reconnect (%s): %d %q; want it refused", tc.name, resp.StatusCode, b)
			}
		})
	}
}

// uaTransport sends every request with the User-Agent *ua.
type uaTransport struct {
	ua   *string
	next http.RoundTripper
}

func (u uaTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("User-Agent", *u.ua)
	return u.next.RoundTrip(r)
}
