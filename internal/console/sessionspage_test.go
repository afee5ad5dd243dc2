package console_test

import (
	"context"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/internal/console"
	"github.com/sessiond/sessiond/memstore"
	"github.com/sessiond/sessiond/opaquetoken"
	"github.com/sessiond/sessiond/sessiondtest"
)

// pageReads is the fixture's store, counting how the console's Manager
// reads a subject's sessions: List calls, and the sessions ListPage was
// asked to read.
type pageReads struct {
	*memstore.Store
	mu           sync.Mutex
	lists, asked int
}

func (p *pageReads) List(ctx context.Context, subject string, now time.Time) ([]*sessiond.Session, error) {
	p.mu.Lock()
	p.lists++
	p.mu.Unlock()
	return p.Store.List(ctx, subject, now)
}

func (p *pageReads) ListPage(ctx context.Context, q sessiond.PageQuery) (sessiond.Page, error) {
	p.mu.Lock()
	p.asked += q.Limit
	p.mu.Unlock()
	return p.Store.ListPage(ctx, q)
}

// take returns the counts so far and starts again from zero.
func (p *pageReads) take() (lists, asked int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	lists, asked, p.lists, p.asked = p.lists, p.asked, 0, 0
	return lists, asked
}

// newPagedFixture is a console whose Manager reads through a pageReads
// over the fixture's store, with n sessions of "many" in it, created a
// millisecond apart; match(i) gives the i-th (0 the oldest) the address
// 198.51.100.1, the others 203.0.113.1.
func newPagedFixture(t *testing.T, n int, match func(int) bool) (*fixture, *pageReads, []string) {
	var reads *pageReads
	f := newFixtureWith(t, func(f *fixture, o *console.Options) {
		reads = &pageReads{Store: f.store}
		mgr, err := sessiond.New(t.Context(), sessiond.Options{Strategy: sessiond.StrategyDatabase, Store: reads,
			Opaque: opaquetoken.Codec{}, Clock: f.clock, GCInterval: -1})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { mgr.Close() })
		o.Manager = mgr
	})
	ids := make([]string, n)
	now := f.clock.Now()
	for i := range n {
		s := sessiondtest.NewSession("many", now.Add(-time.Duration(n-i)*time.Millisecond))
		s.Client.IP = "203.0.113.1"
		if match(i) {
			s.Client.IP = "198.51.100.1"
		}
		if err := f.store.Create(t.Context(), s); err != nil {
			t.Fatal(err)
		}
		ids[i] = string(s.ID)
	}
	return f, reads, ids
}

// rowIDsInOrder are the session IDs of the sessions page's rows, as shown.
func rowIDsInOrder(body string) []string {
	var ids []string
	for _, m := range regexp.MustCompile(`<tr data-id="([^"]*)">`).FindAllStringSubmatch(body, -1) {
		ids = append(ids, m[1])
	}
	return ids
}

// olderSessions is the query of the page's "Older sessions" link, "" without
// one.
func olderSessions(t *testing.T, body string) string {
	t.Helper()
	m := regexp.MustCompile(`<a href="/console/sessions\?([^"]*)">Older sessions</a>`).FindStringSubmatch(body)
	if m == nil {
		return ""
	}
	q, err := url.ParseQuery(strings.ReplaceAll(m[1], "&amp;", "&"))
	if err != nil {
		t.Fatalf("older link %q: %v", m[1], err)
	}
	return q.Encode()
}

// TestConsole_SessionsPaged: a subject with more sessions than a page
// shows is listed newest first, 100 rows a page, each request reading at
// most 1,000 of its sessions and never all of them at once (List); the
// pages, followed by their "Older sessions" links (which keep the
// filters), show each session once; the page says its counts are not the
// subject's total, and revoke all and revoke others say they end the
// sessions not shown, and do.
func TestConsole_SessionsPaged(t *testing.T) {
	f, reads, ids := newPagedFixture(t, 250, func(int) bool { return false })
	c := f.signedIn()
	slices.Reverse(ids) // newest first
	var shown []string
	query := url.Values{"subject": {"many"}}.Encode()
	for page := 1; ; page++ {
		resp, body := f.do(c, "GET", "/console/sessions?"+query, nil, "same-origin")
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("page %d: %d\n%s", page, resp.StatusCode, body)
		}
		if lists, asked := reads.take(); lists != 0 || asked > 1000 {
			t.Errorf("page %d: %d List calls, %d sessions asked of ListPage; want none, at most 1,000", page, lists, asked)
		}
		rows := rowIDsInOrder(body)
		wantRows := min(100, 250-len(shown))
		if !slices.Equal(rows, ids[len(shown):len(shown)+wantRows]) {
			t.Fatalf("page %d: %d rows; want the next %d sessions, newest first", page, len(rows), wantRows)
		}
		shown = append(shown, rows...)
		heading := between(body, `<h2 id="found">`, "</h2>")
		if !strings.Contains(heading, "not all of the subject") || !strings.Contains(body, "not of every session of the subject") {
			t.Errorf("page %d: heading %q; want it, and the hint, to say the count is not the subject's total", page, heading)
		}
		if !strings.Contains(body, "Revoke all of this subject&#39;s sessions (every one, not only the") &&
			!strings.Contains(body, "Revoke all of this subject's sessions (every one, not only the") {
			t.Errorf("page %d: revoke all says %q", page, between(body, `class="danger">`, "</button>"))
		}
		if n := strings.Count(body, ">Revoke all others (including those not shown)</button>"); n != len(rows) {
			t.Errorf("page %d: %d revoke-others buttons say they end those not shown; want %d", page, n, len(rows))
		}
		if newest := strings.Contains(body, ">Newest sessions</a>"); newest != (page > 1) {
			t.Errorf("page %d: a Newest sessions link %v; want %v", page, newest, page > 1)
		}
		query = olderSessions(t, body)
		if query == "" {
			break
		}
		if page > 3 {
			t.Fatal("more than 3 pages for 250 sessions")
		}
	}
	if !slices.Equal(shown, ids) {
		t.Errorf("the pages showed %d sessions; want each of the 250 once, newest first", len(shown))
	}

	// Revoke others from the second page: every session but the one kept
	// ends, those of the other pages too, and the answer is that page.
	resp, body := f.do(c, "GET", "/console/sessions?subject=many", nil, "same-origin")
	second := olderSessions(t, body)
	q, _ := url.ParseQuery(second)
	keep := ids[150]
	resp, _ = f.do(c, "POST", "/console/sessions/revoke-others", url.Values{"subject": {"many"}, "id": {keep}, "cursor": {q.Get("cursor")}, "confirm": {"yes"}}, "same-origin")
	want := "/console/sessions?" + url.Values{"subject": {"many"}, "revoked": {"249"}, "cursor": {q.Get("cursor")}}.Encode()
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != want {
		t.Errorf("revoke others from page 2: %d to %q; want 303 to %q", resp.StatusCode, resp.Header.Get("Location"), want)
	}
	if live, err := f.mgr.List(t.Context(), "many"); err != nil || len(live) != 1 || string(live[0].ID) != keep {
		t.Errorf("after revoke others: %d live, %v; want the one kept", len(live), err)
	}
}

// TestConsole_SessionsPagedFilters: the filters apply to the sessions a
// request reads (at most 1,000); a page short of 100 matching rows reads
// on to that budget, and says that its counts are of what it read, and
// the older pages hold the rest. When a request reads every session of
// the subject, the page is as before: "N of the M session(s)".
func TestConsole_SessionsPagedFilters(t *testing.T) {
	f, reads, ids := newPagedFixture(t, 1500, func(i int) bool { return i%20 == 0 })
	c := f.signedIn()
	var want []string
	for i := len(ids) - 1; i >= 0; i-- {
		if i%20 == 0 {
			want = append(want, ids[i])
		}
	}
	query := url.Values{"subject": {"many"}, "ip": {"198.51.100.0/24"}}.Encode()
	var shown []string
	for page := 1; query != ""; page++ {
		resp, body := f.do(c, "GET", "/console/sessions?"+query, nil, "same-origin")
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("page %d: %d\n%s", page, resp.StatusCode, body)
		}
		lists, asked := reads.take()
		if lists != 0 || asked > 1000 {
			t.Errorf("page %d: %d List calls, %d sessions asked; want none, at most 1,000", page, lists, asked)
		}
		rows := rowIDsInOrder(body)
		shown = append(shown, rows...)
		heading := between(body, `<h2 id="found">`, "</h2>")
		switch page {
		case 1:
			if asked != 1000 || len(rows) != 50 || !strings.Contains(heading, "50 of 1000 session(s) of") || !strings.Contains(body, "the other pages may hold more that match") {
				t.Errorf("page 1: asked %d, %d rows, heading %q; want 1,000 read, 50 rows, \"50 of 1000\" and the hint", asked, len(rows), heading)
			}
		case 2:
			if len(rows) != 25 || !strings.Contains(heading, "25 of 500 session(s) of") {
				t.Errorf("page 2: %d rows, heading %q; want 25 rows, \"25 of 500\"", len(rows), heading)
			}
		}
		query = olderSessions(t, body)
		if query != "" {
			if q, _ := url.ParseQuery(query); q.Get("ip") != "198.51.100.0/24" || q.Get("subject") != "many" {
				t.Errorf("page %d: the Older link %q lost the subject or the filter", page, query)
			}
		}
		if page > 2 {
			t.Fatal("more than 2 pages")
		}
	}
	if !slices.Equal(shown, want) {
		t.Errorf("the pages showed %d sessions; want each of the %d matching once, newest first", len(shown), len(want))
	}

	// A subject read whole: the counts are the subject's.
	g, _, _ := newPagedFixture(t, 250, func(i int) bool { return i%10 == 0 })
	gc := g.signedIn()
	_, body := g.do(gc, "GET", "/console/sessions?"+url.Values{"subject": {"many"}, "ip": {"198.51.100.1"}}.Encode(), nil, "same-origin")
	if heading := between(body, `<h2 id="found">`, "</h2>"); !strings.Contains(heading, "25 of the 250 session(s) of") || strings.Contains(heading, "not all") ||
		strings.Contains(body, ">Older sessions</a>") || !strings.Contains(body, "(250, not only the 25 shown)") {
		t.Errorf("a subject read whole under a filter: heading %q, revoke all %q", heading, between(body, `class="danger">`, "</button>"))
	}
}

// TestConsole_SessionsBadCursor: a cursor the page did not make for this
// subject (malformed, or another subject's) is a 400 saying so, and lists
// nothing.
func TestConsole_SessionsBadCursor(t *testing.T) {
	f, _, _ := newPagedFixture(t, 150, func(int) bool { return false })
	c := f.signedIn()
	for range 150 {
		f.create("other", "laptop")
	}
	_, body := f.do(c, "GET", "/console/sessions?subject=other", nil, "same-origin")
	others, _ := url.ParseQuery(olderSessions(t, body))
	if others.Get("cursor") == "" {
		t.Fatal("other's first page has no Older link")
	}
	for name, cursor := range map[string]string{
		"malformed":         "junk",
		"another subject's": others.Get("cursor"),
		"a token":           "sds_0123456789abcdefghijklmnopqrstuvwxyzABCDEFGH",
	} {
		resp, body := f.do(c, "GET", "/console/sessions?"+url.Values{"subject": {"many"}, "cursor": {cursor}}.Encode(), nil, "same-origin")
		if msg := between(body, `class="error"`, "</p>"); resp.StatusCode != http.StatusBadRequest || !strings.Contains(msg, "does not exist") || len(rowIDsInOrder(body)) != 0 {
			t.Errorf("%s cursor: %d %q, %d rows; want 400 saying the page does not exist, no rows", name, resp.StatusCode, msg, len(rowIDsInOrder(body)))
		}
		if strings.Contains(body, "sds_0123") {
			t.Errorf("%s cursor: the page shows it", name)
		}
	}
}
