package console_test

import (
	"context"
	"html"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/internal/console"
	"github.com/sessiond/sessiond/verifier/stream"
)

// eventRowIDs are the IDs of the events page's rows, top to bottom.
func eventRowIDs(body string) []string {
	var ids []string
	for _, m := range regexp.MustCompile(`<tr data-id="([^"]*)">`).FindAllStringSubmatch(body, -1) {
		ids = append(ids, html.UnescapeString(m[1]))
	}
	return ids
}

// olderLink is the query of the events page's link to the older events,
// "" when it has none.
func olderLink(body string) string {
	_, rest, ok := strings.Cut(body, `<p><a href="/console/events?`)
	if !ok {
		return ""
	}
	q, _, _ := strings.Cut(rest, `"`)
	return html.UnescapeString(q)
}

// TestConsole_EventsNewestFirst: the events page lists the newest events
// first, as `sessiond events` does (an operator looks for what just
// happened), and its link to the older ones goes on from the last event
// shown: events logged while the operator reads are not on the older pages
// and make none of them repeat or skip an event, and events of one
// microsecond split across two pages come once each.
func TestConsole_EventsNewestFirst(t *testing.T) {
	for _, tc := range []struct {
		name string
		n    int
		step time.Duration // between two events
	}{
		{"one page", 40, time.Second},
		{"a page and a half", 150, time.Second},
		{"three pages", 250, 100 * time.Millisecond},
		{"full pages only", 200, time.Second},
		{"one microsecond", 105, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			c := f.signedIn()
			start := f.clock.Now()
			f.clock.Set(start.Add(-30 * time.Minute))
			var want []string
			for range tc.n {
				id := sessiond.NewEventID(f.clock.Now())
				f.logEvent(id, sessiond.EventSessionCreated, "alice", "curl", nil)
				want = append(want, id)
				f.clock.Advance(tc.step)
			}
			slices.Sort(want)
			slices.Reverse(want) // newest first
			f.clock.Set(start)
			var got []string
			query := ""
			for pages := 1; ; pages++ {
				if pages > tc.n/sessiond.DefaultEventLimit+2 {
					t.Fatalf("more than %d pages", pages-1)
				}
				resp, body := f.do(c, "GET", "/console/events"+query, nil, "same-origin")
				if resp.StatusCode != http.StatusOK {
					t.Fatalf("events?%s: %d\n%s", query, resp.StatusCode, body)
				}
				if newest := strings.Contains(body, ">Newest events</a>"); newest != (pages > 1) {
					t.Errorf("page %d links to the newest events: %v; want %v", pages, newest, pages > 1)
				}
				rows := eventRowIDs(body)
				if len(rows) > sessiond.DefaultEventLimit {
					t.Fatalf("page %d has %d rows", pages, len(rows))
				}
				got = append(got, rows...)
				// An event comes while the operator reads the page.
				f.clock.Advance(time.Minute)
				f.logEvent(sessiond.NewEventID(f.clock.Now()), sessiond.EventSessionCreated, "newcomer", "curl", nil)
				next := olderLink(body)
				if next == "" {
					break
				}
				query = "?" + next
			}
			if !slices.Equal(got, want) {
				n := min(3, len(got))
				t.Errorf("the pages listed %d events (first %v); want the %d logged, newest first, each once (first %v)",
					len(got), got[:n], len(want), want[:min(3, len(want))])
			}
		})
	}
}

// countedLog counts the reads of the event log it wraps.
type countedLog struct {
	sessiond.EventLog
	reads *atomic.Int64
}

func (l countedLog) QueryEvents(ctx context.Context, q sessiond.EventQuery) ([]sessiond.Event, string, error) {
	l.reads.Add(1)
	return l.EventLog.QueryEvents(ctx, q)
}

// TestConsole_EventsBeforeAhead: a before cursor ahead of every clock
// (the page gives none: its pages end a minute past now) reads no more of
// the log than the first page does, and one before the page's start lists
// nothing. Read from there, the page read windows
// back from the year 148,000 (the furthest a cursor reaches): without end
// until Read's window width stopped wrapping around, then about a thousand
// reads a request.
func TestConsole_EventsBeforeAhead(t *testing.T) {
	var reads atomic.Int64
	f := newFixtureWith(t, func(f *fixture, o *console.Options) {
		o.Events = countedLog{EventLog: f.store, reads: &reads}
	})
	c := f.signedIn()
	var want []string
	for range 3 {
		f.clock.Advance(-10 * time.Minute)
		id := sessiond.NewEventID(f.clock.Now())
		f.logEvent(id, sessiond.EventSessionCreated, "alice", "curl", nil)
		want = append(want, id)
	}
	f.clock.Advance(30 * time.Minute)
	for _, tc := range []struct {
		at   time.Time
		want []string
	}{
		{f.clock.Now().AddDate(1000, 0, 0), want},
		{time.UnixMicro(1 << 62), want}, // the furthest a cursor reaches
		{time.Unix(1, 0), nil},          // before the page's since: nothing
	} {
		at := tc.at
		reads.Store(0)
		resp, body := f.do(c, "GET", "/console/events?before="+stream.CursorAt(at), nil, "same-origin")
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("events?before=%v: %d\n%s", at, resp.StatusCode, body)
		}
		if got := eventRowIDs(body); !slices.Equal(got, tc.want) {
			t.Errorf("events?before=%v lists %v; want %v", at, got, tc.want)
		}
		if n := reads.Load(); n > 20 {
			t.Errorf("events?before=%v read the log %d times; want at most 20", at, n)
		}
	}
}
