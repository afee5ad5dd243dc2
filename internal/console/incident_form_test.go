package console_test

import (
	"html"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"golang.org/x/text/unicode/norm"
)

// textarea is the content of the page's <textarea id=id> unescaped, as a
// browser submits it again.
func textarea(t *testing.T, body, id string) string {
	t.Helper()
	i := strings.Index(body, `<textarea id="`+id+`"`)
	if i < 0 {
		t.Fatalf("no textarea %q in the page", id)
	}
	rest := body[i:]
	j, k := strings.Index(rest, ">"), strings.Index(rest, "</textarea>")
	if j < 0 || k < j {
		t.Fatalf("textarea %q not closed", id)
	}
	return html.UnescapeString(rest[j+1 : k])
}

// TestConsole_IncidentFormKeepsSubjects: a kill switch refused for a typo
// (REVOKE not typed) shows the form again as typed, one subject per line
// and none cut off, so that submitting it again revokes those subjects.
func TestConsole_IncidentFormKeepsSubjects(t *testing.T) {
	t.Run("two subjects and a reason", func(t *testing.T) {
		f := newFixture(t)
		c := f.signedIn()
		alice, bob := f.create("alice", "a"), f.create("bob", "b")
		reason := `stolen "laptop" <b>`
		form := url.Values{"scope": {"subjects"}, "subjects": {"alice\nbob"}, "reason": {reason}, "confirm": {""}}
		resp, body := f.do(c, "POST", "/console/incident", form, "same-origin")
		if resp.StatusCode != http.StatusBadRequest {
			t.Fatalf("kill switch without confirmation: %d; want 400", resp.StatusCode)
		}
		shown := textarea(t, body, "subjects")
		if strings.TrimRight(shown, "\n") != "alice\nbob" {
			t.Errorf("after a refused kill switch the subjects textarea holds %q; want %q", shown, "alice\nbob")
		}
		if !strings.Contains(body, `value="stolen &#34;laptop&#34; &lt;b&gt;"`) {
			t.Errorf("the reason is not shown again as typed: %q", between(body, `id="reason"`, ">"))
		}
		form.Set("subjects", shown)
		form.Set("confirm", "REVOKE")
		if resp, _ := f.do(c, "POST", "/console/incident", form, "same-origin"); resp.StatusCode != http.StatusOK {
			t.Fatalf("kill switch sent again: %d", resp.StatusCode)
		}
		if f.live(alice) || f.live(bob) {
			t.Errorf("the form sent again left alice live %v, bob live %v (subjects sent: %q)",
				f.live(alice), f.live(bob), f.incidents[len(f.incidents)-1].Subjects)
		}
	})
	t.Run("sixty subjects", func(t *testing.T) {
		f := newFixture(t)
		c := f.signedIn()
		var subjects []string
		for i := range 60 {
			subjects = append(subjects, "user-xxxx"+string(rune('a'+i%26))+string(rune('a'+i/26)))
		}
		form := url.Values{"scope": {"subjects"}, "subjects": {strings.Join(subjects, "\n")}, "reason": {"breach"}, "confirm": {"revoke"}}
		_, body := f.do(c, "POST", "/console/incident", form, "same-origin")
		if shown := textarea(t, body, "subjects"); strings.TrimRight(shown, "\n") != strings.Join(subjects, "\n") {
			t.Errorf("the form shown again holds %d bytes of the %d typed (ends %q)", len(shown), len(form.Get("subjects")), shown[max(0, len(shown)-20):])
		}
	})
	t.Run("a terminal escape is not shown again", func(t *testing.T) {
		f := newFixture(t)
		c := f.signedIn()
		form := url.Values{"scope": {"subjects"}, "subjects": {"alice\x1b[2J\nbob"}, "reason": {"x\u202e"}, "confirm": {"REVOKE"}}
		resp, body := f.do(c, "POST", "/console/incident", form, "same-origin")
		if resp.StatusCode != http.StatusBadRequest || strings.ContainsAny(body, "\x1b\u202e") {
			t.Errorf("refused form with control characters: %d, page echoes them %v", resp.StatusCode, strings.ContainsAny(body, "\x1b\u202e"))
		}
	})
}

// TestConsole_IncidentSubjectExact: the kill switch takes each line as the
// API takes a subject (internal/subject): exact, no trimming but the line
// ending, put in NFC and only then held to 256 bytes.
func TestConsole_IncidentSubjectExact(t *testing.T) {
	long := strings.Repeat("\u00e9", 100) // 200 bytes in NFC, 300 in NFD
	for _, tc := range []struct{ name, stored, typed, other string }{
		{"trailing space", "mallory ", "mallory ", "mallory"},
		{"leading space", " mallory", " mallory", "mallory"},
		{"CRLF line endings", "mallory", "mallory\r\n\r\n", "mallory "},
		{"NFD over 256 bytes raw", long, norm.NFD.String(long), "bob"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			c := f.signedIn()
			named, other := f.create(tc.stored, "a"), f.create(tc.other, "b")
			form := url.Values{"scope": {"subjects"}, "subjects": {tc.typed}, "reason": {"account takeover"}, "confirm": {"REVOKE"}}
			resp, body := f.do(c, "POST", "/console/incident", form, "same-origin")
			if resp.StatusCode != http.StatusOK || f.live(named) || !f.live(other) {
				t.Errorf("kill switch on %q: status %d, its session live %v, the session of %q live %v (%q); want 200, only the named subject's session revoked",
					tc.typed, resp.StatusCode, f.live(named), tc.other, f.live(other), between(body, "Nothing", "."))
			}
		})
	}
	t.Run("over 256 bytes in NFC", func(t *testing.T) {
		f := newFixture(t)
		c := f.signedIn()
		form := url.Values{"scope": {"subjects"}, "subjects": {"alice\n" + strings.Repeat("\u00e9", 129)}, "reason": {"x"}, "confirm": {"REVOKE"}}
		if resp, body := f.do(c, "POST", "/console/incident", form, "same-origin"); resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "subject 2 ") || len(f.incidents) != 0 {
			t.Errorf("a 258-byte subject: %d %q; want 400 naming subject 2", resp.StatusCode, between(body, "Nothing", "."))
		}
	})
}
