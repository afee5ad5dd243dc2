package console_test

import (
	"html"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// linkSubjects are subjects beginning with a double quote beside the
// subjects their unquoted text names: a console link carrying such a
// subject as it is (not as searchText writes it) leads to the other one's
// sessions, where the next click acts.
var linkSubjects = []struct{ subject, lookAlike string }{
	{`"alice"`, "alice"},
	{`"alice\u{200b}"`, "alice\u200b"},
	{`"bob`, `bob`}, // not a quoted value at all: the link was refused
}

var (
	cancelRe = regexp.MustCompile(`<a href="([^"]*)">Cancel</a>`)
	olderRe  = regexp.MustCompile(`<a href="([^"]*)">Older sessions</a>`)
	newestRe = regexp.MustCompile(`<a href="([^"]*)">Newest sessions</a>`)
)

// sameSessions reports whether the page at link lists exactly want.
func sameSessions(t *testing.T, f *fixture, c *http.Client, link string, want []string) {
	t.Helper()
	resp, body := f.do(c, "GET", link, nil, "same-origin")
	got := found(body, rowIDRe)
	want = slices.Sorted(slices.Values(want))
	if resp.StatusCode != http.StatusOK || !slices.Equal(got, want) {
		t.Errorf("GET %s: %d, lists %d session(s) %q; want 200 and %q", link, resp.StatusCode, len(got), got, want)
	}
}

// TestConsole_SubjectLinks: the console's links back to a subject's
// sessions (a confirmation's Cancel, the URL a refused revoke is put
// under, Older and Newest sessions) lead to that subject's sessions, not
// to those of the subject its unquoted text names.
func TestConsole_SubjectLinks(t *testing.T) {
	f, store := newDownGetFixture(t)
	c := f.signedIn()
	ids := map[string][]string{}
	for _, tc := range linkSubjects {
		for _, s := range []string{tc.subject, tc.lookAlike} {
			ids[s] = append(ids[s], string(f.create(s, "curl/8.5.0").Session.ID))
		}
	}
	for _, tc := range linkSubjects {
		t.Run(tc.subject, func(t *testing.T) {
			s := tc.subject
			t.Run("confirmation's Cancel", func(t *testing.T) {
				_, body := f.do(c, "POST", "/console/sessions/revoke-all", url.Values{"subject": {s}}, "same-origin")
				m := cancelRe.FindStringSubmatch(body)
				if m == nil {
					t.Fatalf("no Cancel link on the confirmation")
				}
				sameSessions(t, f, c, html.UnescapeString(m[1]), ids[s])
			})
			t.Run("refused revoke", func(t *testing.T) {
				store.down.Store(true)
				resp, _ := f.do(c, "POST", "/console/sessions/revoke", url.Values{"subject": {s}, "id": {ids[s][0]}}, "same-origin")
				store.down.Store(false)
				to := resp.Header.Get("HX-Push-Url")
				if resp.StatusCode != http.StatusServiceUnavailable || !strings.HasPrefix(to, "/console/sessions?") {
					t.Fatalf("revoke while the store is down: %d, HX-Push-Url %q", resp.StatusCode, to)
				}
				sameSessions(t, f, c, to, ids[s])
			})
		})
	}
	// Older and Newest: a page of older sessions needs more than a page.
	t.Run("Older and Newest", func(t *testing.T) {
		const s = `"carol"`
		var mine []string
		for range 101 {
			mine = append(mine, string(f.create(s, "curl/8.5.0").Session.ID))
			f.create("carol", "curl/8.5.0")
		}
		_, body := f.do(c, "GET", "/console/sessions?"+url.Values{"subject": {`"\"carol\""`}}.Encode(), nil, "same-origin")
		first := found(body, rowIDRe)
		m := olderRe.FindStringSubmatch(body)
		if len(first) == 0 || m == nil {
			t.Fatalf("first page: %d rows, Older link %v", len(first), m)
		}
		older := html.UnescapeString(m[1])
		_, body = f.do(c, "GET", older, nil, "same-origin")
		rest := found(body, rowIDRe)
		if all := slices.Sorted(slices.Values(append(slices.Clone(first), rest...))); !slices.Equal(all, slices.Sorted(slices.Values(mine))) {
			t.Errorf("the first page (%d) and %s (%d) list other sessions than the subject's %d", len(first), older, len(rest), len(mine))
		}
		n := newestRe.FindStringSubmatch(body)
		if n == nil {
			t.Fatalf("no Newest link on %s", older)
		}
		sameSessions(t, f, c, html.UnescapeString(n[1]), first)
	})
}
