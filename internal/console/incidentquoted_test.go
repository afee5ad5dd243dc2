package console_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
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
