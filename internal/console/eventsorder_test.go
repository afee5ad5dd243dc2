package console_test

import (
	"html"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sessiond/sessiond"
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
