package console_test

import (
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/sessiond/sessiond"
)

// TestConsole_IncidentSubjectQuoted: a kill switch line beginning with a
// double quote is a subject as the console shows it, read as a subject
// search reads it: the form copied from a table cell ends the look-alike
// it names, not the subject spelled with those quotes and backslashes
// (which anyone could have signed up as); a line without the quote is
// taken as typed.
func TestConsole_IncidentSubjectQuoted(t *testing.T) {
	hyphens := strings.Repeat("\u00ad", 128) // 256 bytes, 1,026 characters quoted
	for _, tc := range []struct{ name, stored, typed, other string }{
		{"console form of a zero-width space", "alice\u200b", `"alice\u{200b}"`, `"alice\u{200b}"`},
		{"CLI form of a zero-width space", "alice\u200b", `"alice\u200b"`, `"alice\u200b"`},
		{"hidden trailing space", "alice ", `"alice\u{20}"`, "alice"},
		{"subject beginning with a quote", `"alice"`, `"\"alice\""`, "alice"},
		{"escape text unquoted is typed text", `alice\u{200b}`, `alice\u{200b}`, "alice\u200b"},
		{"256 bytes quoted in 1,026 characters", hyphens, `"` + strings.Repeat(`\u{00ad}`, 128) + `"`, "alice"},
		{"quoted among plain lines", "alice\u200b", "bob\r\n\"alice\\u{200b}\"\r\n", `"alice\u{200b}"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			c := f.signedIn()
			named, other := f.create(tc.stored, "a"), f.create(tc.other, "b")
			form := url.Values{"scope": {"subjects"}, "subjects": {tc.typed}, "reason": {"account takeover"}, "confirm": {"REVOKE"}}
			resp, body := f.do(c, "POST", "/console/incident", form, "same-origin")
			if resp.StatusCode != http.StatusOK || f.live(named) || !f.live(other) {
				t.Errorf("kill switch on %q: status %d, the session of %q live %v, of %q live %v (%q); want 200, only %q's revoked",
					tc.typed, resp.StatusCode, tc.stored, f.live(named), tc.other, f.live(other), between(body, "Nothing", "."), tc.stored)
			}
		})
	}
}

// TestConsole_IncidentSubjectQuotedBadly: a line beginning with a double
// quote that is not a quoted subject refuses the whole form, naming the
// line, rather than revoking the subject spelled so or guessing.
func TestConsole_IncidentSubjectQuotedBadly(t *testing.T) {
	for _, tc := range []struct{ name, line string }{
		{"unterminated", `"alice\u{200b}`},
		{"trailing space after the quote", `"alice\u{200b}" `},
		{"unknown escape", `"alice\q"`},
		{"unescaped quote inside", `"al"ice"`},
		{"lone quote", `"`},
		{"escape past the last rune", `"alice\u{110000}"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			c := f.signedIn()
			literal, bob := f.create(tc.line, "a"), f.create("bob", "b")
			form := url.Values{"scope": {"subjects"}, "subjects": {"bob\n\n" + tc.line}, "reason": {"account takeover"}, "confirm": {"REVOKE"}}
			resp, body := f.do(c, "POST", "/console/incident", form, "same-origin")
			msg := between(body, "Nothing", ".")
			if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "subject 2 begins with a double quote") ||
				len(f.incidents) != 0 || !f.live(literal) || !f.live(bob) {
				t.Errorf("kill switch on %q: status %d, %q, %d incidents run; want 400 naming subject 2, nothing revoked",
					tc.line, resp.StatusCode, msg, len(f.incidents))
			}
		})
	}
}

// TestConsole_IncidentSubjectNearlyQuoted: a kill switch line that looks
// quoted but does not begin with the quote (an indented cell, a pasted
// file's byte order mark, a no-break or zero-width space before it), or
// that quotes nothing, refuses the whole form, naming the line: taken as
// typed, it would revoke a subject spelled with those quotes, which anyone
// could have signed up as, and leave the subject shown live.
func TestConsole_IncidentSubjectNearlyQuoted(t *testing.T) {
	for _, tc := range []struct{ name, line, want string }{
		{"spaces around the quotes", `  "alice"  `, "subject 2 has white space or an invisible character before"},
		{"space before the quote", ` "alice\u{200b}"`, "subject 2 has white space or an invisible character before"},
		{"tab before the quote", "\t\"alice\"", "subject 2 has white space or an invisible character before"},
		{"no-break space before the quote", "\u00a0\"alice\"", "subject 2 has white space or an invisible character before"},
		{"zero-width space before the quote", "\u200b\"alice\"", "subject 2 has white space or an invisible character before"},
		{"byte order mark before the quote", "\ufeff\"alice\"", "subject 2 has white space or an invisible character before"},
		{"byte order mark before a subject", "\ufeffalice", "subject 2 begins with a byte order mark"},
		{"empty quotes", `""`, "subject 2 is required"},
		// 410 bytes once read, but past the raw bound (4,098 bytes) first.
		{"quoted past the raw bound", `"` + strings.Repeat(`\u{000061}`, 410) + `"`, "subject 2 is longer than 256 bytes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			c := f.signedIn()
			alice, bob := f.create("alice", "b"), f.create("bob", "c")
			var literal *sessiond.Issued // the subject spelled as the line is, if one may be
			if !strings.Contains(tc.line, "\t") && len(tc.line) <= sessiond.MaxSubjectBytes {
				literal = f.create(tc.line, "a")
			}
			form := url.Values{"scope": {"subjects"}, "subjects": {"bob\r\n" + tc.line + "\r\n"}, "reason": {"account takeover"}, "confirm": {"REVOKE"}}
			resp, body := f.do(c, "POST", "/console/incident", form, "same-origin")
			if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, tc.want) ||
				len(f.incidents) != 0 || (literal != nil && !f.live(literal)) || !f.live(alice) || !f.live(bob) {
				t.Errorf("kill switch on %q: status %d, %q, %d incidents run; want 400 saying %q, nothing revoked",
					tc.line, resp.StatusCode, between(body, "Nothing", "."), len(f.incidents), tc.want)
			}
		})
	}
}

// TestConsole_IncidentSubjectsOnce: subjects the same once read (plain
// and quoted, escaped or not, composed or decomposed) are sent once, so
// the incident's record counts the subjects revoked, not the lines.
func TestConsole_IncidentSubjectsOnce(t *testing.T) {
	f := newFixture(t)
	c := f.signedIn()
	alice, look := f.create("alice", "a"), f.create("alice\u200b", "b")
	lines := "alice\r\n\"alice\"\r\n\"\\u{61}lice\"\r\nalice\u200b\r\n\"alice\\u{200b}\"\r\n\u00e9\r\ne\u0301\r\n"
	form := url.Values{"scope": {"subjects"}, "subjects": {lines}, "reason": {"account takeover"}, "confirm": {"REVOKE"}}
	resp, body := f.do(c, "POST", "/console/incident", form, "same-origin")
	if resp.StatusCode != http.StatusOK || len(f.incidents) != 1 || f.live(alice) || f.live(look) {
		t.Fatalf("kill switch: status %d (%q), %d runs; want 200, one run, both revoked", resp.StatusCode, between(body, "Nothing", "."), len(f.incidents))
	}
	if got, want := f.incidents[0].Subjects, []string{"alice", "alice\u200b", "\u00e9"}; !slices.Equal(got, want) {
		t.Errorf("subjects sent %q; want %q", got, want)
	}
}
