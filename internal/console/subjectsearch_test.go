package console_test

import (
	"html"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/sessiond/sessiond"
)

// searchLookAlikes are subjects an operator must be able to search for
// apart: a rune the console escapes beside the same escape typed
// literally, quotes, backslashes and spaces. Each has one session and one
// event.
var searchLookAlikes = []string{
	"alice\u200b", `alice\u{200b}`, `alice\u200b`, `"alice\u{200b}"`,
	`"alice"`, "alice", "alice ", `"alice `,
	"CORP\\alice\u200b", `CORP\alice`,
	"alice\u00a0bob", "tag\U000e0041",
}

var (
	subjectFieldRe = regexp.MustCompile(`<input id="subject" name="subject" value="([^"]*)"`)
	subjectCodeRe  = regexp.MustCompile(`session\(s\) of <code>([^<]*)</code>`)
	subjectCellRe  = regexp.MustCompile(`<td data-label="Subject">([^<]*)</td>`)
)

// searchFixture is a console holding a session and an event of each of
// searchLookAlikes, and the ID of each subject's session, and another
// session of each to revoke.
func searchFixture(t *testing.T) (f *fixture, c *http.Client, ids, spare map[string]string) {
	f = newFixture(t)
	ids, spare = map[string]string{}, map[string]string{}
	for i, s := range searchLookAlikes {
		ids[s] = string(f.create(s, "curl/8.5.0").Session.ID)
		spare[s] = string(f.create(s, "curl/8.5.0").Session.ID)
		f.logEvent("ev_"+string(rune('a'+i)), sessiond.EventSessionCreated, s, "curl/8.5.0", nil)
	}
	return f, f.signedIn(), ids, spare
}

// found is the first group of re's matches in body, HTML unescaped,
// sorted: the row IDs a page lists, or the subjects of its events.
func found(body string, re *regexp.Regexp) []string {
	var out []string
	for _, m := range re.FindAllStringSubmatch(body, -1) {
		out = append(out, html.UnescapeString(m[1]))
	}
	slices.Sort(out)
	return out
}

var rowIDRe = regexp.MustCompile(`<tr data-id="([^"]*)">`)

// TestConsole_SubjectFieldRoundTrip: the subject field of the sessions
// and events pages, sent again as the page filled it, finds the same rows.
// It held the escape text (alice\u{200b} for a zero-width space), which a
// second search asked for literally: no rows, or another subject's.
func TestConsole_SubjectFieldRoundTrip(t *testing.T) {
	f, c, ids, spare := searchFixture(t)
	for _, s := range searchLookAlikes {
		t.Run(s, func(t *testing.T) {
			// The page reached through the console's own link: the one a
			// revoke answers with, with the subject's session revoked.
			resp, _ := f.do(c, "POST", "/console/sessions/revoke", url.Values{"subject": {s}, "id": {spare[s]}}, "same-origin")
			loc := resp.Header.Get("Location")
			if resp.StatusCode != http.StatusSeeOther || loc == "" {
				t.Fatalf("revoke: %d %q", resp.StatusCode, loc)
			}
			_, body := f.do(c, "GET", loc, nil, "same-origin")
			if got := found(body, rowIDRe); !slices.Equal(got, []string{ids[s]}) {
				t.Fatalf("the page a revoke answers with lists %q; want %q's session %s", got, s, ids[s])
			}
			eventID := "ev_" + string(rune('a'+slices.Index(searchLookAlikes, s)))
			for _, page := range []struct{ path, want string }{{"/console/sessions", ids[s]}, {"/console/events", eventID}} {
				for round := range 3 {
					m := subjectFieldRe.FindStringSubmatch(body)
					if m == nil {
						t.Fatalf("%s round %d: no subject field", page.path, round)
					}
					field := html.UnescapeString(m[1])
					_, body = f.do(c, "GET", page.path+"?"+url.Values{"subject": {field}}.Encode(), nil, "same-origin")
					if got := found(body, rowIDRe); !slices.Equal(got, []string{page.want}) {
						t.Errorf("%s round %d: the field %q sent again lists %q; want %q's row %s", page.path, round, field, got, s, page.want)
					}
				}
			}
		})
	}
}

// TestConsole_SubjectSearchAsShown: a subject pasted as the console shows
// it, quoted with its escapes ("alice\u{200b}", or the CLI's
// "alice\u200b"), finds that subject's session and events, and a value
// not beginning with a double quote is searched for as it is: the six
// characters \u200b typed find the subject holding them, not a
// zero-width space.
func TestConsole_SubjectSearchAsShown(t *testing.T) {
	f, c, ids, spare := searchFixture(t)
	for _, s := range searchLookAlikes {
		t.Run(s, func(t *testing.T) {
			// What the events page shows in the subject's cell.
			_, body := f.do(c, "GET", "/console/events?"+url.Values{"type": {"session.created"}}.Encode(), nil, "same-origin")
			// The event of s is the one with its ID.
			i := slices.Index(searchLookAlikes, s)
			row := regexp.MustCompile(`<tr data-id="ev_` + string(rune('a'+i)) + `">\s*<td data-label="Time">[^<]*</td>\s*<td data-label="Type">[^<]*</td>\s*<td data-label="Subject">([^<]*)</td>`).FindStringSubmatch(body)
			if row == nil {
				t.Fatalf("no event row of %q", s)
			}
			shown := html.UnescapeString(row[1])
			_, body = f.do(c, "GET", "/console/sessions?"+url.Values{"subject": {shown}}.Encode(), nil, "same-origin")
			want := []string{ids[s], spare[s]}
			slices.Sort(want)
			if got := found(body, rowIDRe); !slices.Equal(got, want) {
				t.Errorf("sessions searched for %s (shown for %q) = %q; want %q", shown, s, got, want)
			}
			if m := subjectCodeRe.FindStringSubmatch(body); m == nil || html.UnescapeString(m[1]) != shown {
				t.Errorf("sessions searched for %s: heading shows %v; want the same text", shown, m)
			}
			_, body = f.do(c, "GET", "/console/events?"+url.Values{"subject": {shown}}.Encode(), nil, "same-origin")
			if got := found(body, subjectCellRe); !slices.Equal(got, []string{shown}) {
				t.Errorf("events searched for %s (shown for %q) list subjects %q; want only it", shown, s, got)
			}
		})
	}
}

// TestConsole_SubjectSearchQuotedRefused: a search beginning with a double
// quote that is no quoted value as the console shows one is refused,
// saying how to search for such a subject, not guessed at.
func TestConsole_SubjectSearchQuotedRefused(t *testing.T) {
	f, c, _, _ := searchFixture(t)
	for _, in := range []string{`"alice`, `"al"ice"`, `"alice\q"`, `"alice\u{110000}"`} {
		for _, path := range []string{"/console/sessions", "/console/events"} {
			resp, body := f.do(c, "GET", path+"?"+url.Values{"subject": {in}}.Encode(), nil, "same-origin")
			if resp.StatusCode != http.StatusBadRequest || !strings.Contains(html.UnescapeString(body), `searched for as shown, quoted`) || len(found(body, rowIDRe)) != 0 {
				t.Errorf("%s searched for %s: %d, %d rows; want 400 saying how to quote, no rows", path, in, resp.StatusCode, len(found(body, rowIDRe)))
			}
		}
	}
}

// TestConsole_SubjectSearchLongEscapes: a subject of 256 bytes the
// console escapes throughout (128 soft hyphens: \u{00ad}, 8 bytes shown
// for 2) is searched for in its quoted form, 1026 bytes long, on both
// pages. The events page bounded the text searched for at 1,024 bytes
// before unquoting it, and refused the form its own field had filled.
func TestConsole_SubjectSearchLongEscapes(t *testing.T) {
	f := newFixture(t)
	c := f.signedIn()
	s := strings.Repeat("\u00ad", sessiond.MaxSubjectBytes/2)
	id := string(f.create(s, "curl/8.5.0").Session.ID)
	f.logEvent("ev_long", sessiond.EventSessionCreated, s, "curl/8.5.0", nil)
	resp, body := f.do(c, "GET", "/console/sessions?"+url.Values{"subject": {s}}.Encode(), nil, "same-origin")
	m := subjectFieldRe.FindStringSubmatch(body)
	if resp.StatusCode != http.StatusOK || m == nil {
		t.Fatalf("sessions of the subject: %d, subject field %v", resp.StatusCode, m)
	}
	field := html.UnescapeString(m[1])
	if !strings.HasPrefix(field, `"\u{00ad}`) {
		t.Fatalf("the subject field holds %q; want it quoted with escapes", field)
	}
	// A browser cuts what is typed or pasted into a field at its
	// maxlength (256 held a quarter of it), and the cut text is no
	// quoted value.
	for _, path := range []string{"/console/sessions", "/console/events"} {
		_, body := f.do(c, "GET", path, nil, "same-origin")
		m := regexp.MustCompile(`<input id="subject" name="subject" value="[^"]*" maxlength="([0-9]+)"`).FindStringSubmatch(body)
		if m == nil {
			t.Fatalf("%s: no subject field with a maxlength", path)
		}
		if n, _ := strconv.Atoi(m[1]); n < len(field) {
			t.Errorf("%s: the subject field's maxlength is %s; want at least the %d bytes of the field's own text", path, m[1], len(field))
		}
	}
	for _, page := range []struct{ path, want string }{{"/console/sessions", id}, {"/console/events", "ev_long"}} {
		resp, body := f.do(c, "GET", page.path+"?"+url.Values{"subject": {field}}.Encode(), nil, "same-origin")
		if got := found(body, rowIDRe); resp.StatusCode != http.StatusOK || !slices.Equal(got, []string{page.want}) {
			t.Errorf("%s searched for the field's %d bytes: %d, rows %q; want 200 and %s", page.path, len(field), resp.StatusCode, got, page.want)
		}
	}
	// Still bounded: a longer text is refused unread.
	resp, _ = f.do(c, "GET", "/console/events?"+url.Values{"subject": {`"` + strings.Repeat("a", 16*sessiond.MaxSubjectBytes+1) + `"`}}.Encode(), nil, "same-origin")
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("events searched for a quoted subject of more than 4 KiB: %d; want 400", resp.StatusCode)
	}
}
