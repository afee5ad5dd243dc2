package console

import (
	"bytes"
	"fmt"
	"html/template"
	"net/http"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/bidi"

	"github.com/sessiond/sessiond/internal/textsafe"
)

// pageData is what every page template receives.
type pageData struct {
	Title    string
	Nav      string // the active navigation entry
	Operator string // the signed-in API key's name and ID
	// Navigation shows the console's navigation without an operator: on
	// the page answered without the store, which does not know who it is.
	Navigation bool
	Error      string
	Notice     string
	// ReplaceURL, if set, is the URL the browser keeps for the page
	// (replaceNoticeURL).
	ReplaceURL string
	Data       any
}

// replaceNoticeURL returns r's URL without the query parameter param,
// which carried the notice of an action's result (?revoked=, ?retried=),
// and asks htmx to keep that URL for the page (HX-Replace-Url); set as
// pageData.ReplaceURL, console.js does the same on a full page load
// (history.replaceState). In the URL the notice came back with every
// reload, hours later; now it is shown once.
func replaceNoticeURL(w http.ResponseWriter, r *http.Request, param string) string {
	q := r.URL.Query()
	q.Del(param)
	u := r.URL.Path
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	w.Header().Set("HX-Replace-Url", u)
	return u
}

type pages struct {
	set map[string]*template.Template
}

var funcs = template.FuncMap{
	"printable": printable,
	"editable":  editable,
	// A subject search field: read back by searchValue.
	"searchText": searchText,
	"when":       when,
}

// newPages parses each page together with the shared layout.
func newPages() (*pages, error) {
	p := &pages{set: map[string]*template.Template{}}
	for _, name := range []string{"signin", "overview", "sessions", "events", "webhooks", "incident", "keys", "confirm", "unavailable"} {
		t, err := template.New(name).Funcs(funcs).ParseFS(assets, "templates/layout.html", "templates/"+name+".html")
		if err != nil {
			return nil, fmt.Errorf("console: template %s: %w", name, err)
		}
		p.set[name] = t
	}
	return p, nil
}

// render writes a full page, rendered to a buffer first so a template
// error never leaves half a page.
func (p *pages) render(w http.ResponseWriter, r *http.Request, status int, name string, d pageData) {
	var buf bytes.Buffer
	if err := p.set[name].ExecuteTemplate(&buf, "layout", d); err != nil {
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// maxShown bounds a free-text field (User-Agent, subject) on a page.
const maxShown = 300

// printable makes text that came from clients safe to look at: what
// textsafe.Unsafe reports is spelled out, control characters (terminal
// escapes included) and invalid UTF-8 as \xNN, the rest (format
// characters such as bidirectional overrides and zero-width ones, the line
// and paragraph separators, letters and selectors that show as nothing) as
// \u{NNNN}, so that "alice\u3164" does not pass for "alice", and so is an
// ASCII space the page would hide (textsafe.SpaceShown: at either end, or
// beside another, which HTML collapses), as \u{20}: "alice " is another
// subject than "alice"; long text is cut. A value with an escape, or
// beginning with a double quote, is quoted, its backslashes and double
// quotes escaped too: the characters `\u{200b}` typed in a subject show as
// they are, a zero-width space as "alice\u{200b}" in quotes. The CLI
// escapes the same runes (cmd/sessiond clean) and quotes the same values
// (its cell). The template escapes HTML afterwards.
func printable(s string) string { return shown(s, true, quoteNeeded(s)) }

// printableJSON is printable for JSON text (an event's details), never
// quoted: JSON escapes the backslashes and quotes of its strings itself,
// so an escape printable writes there is told from typed text already.
func printableJSON(s string) string { return shown(s, true, false) }

// editable is printable for a form field's value, but for its ASCII
// spaces, kept as typed, and never quoted: a text box shows them, and the
// form sent again must ask for what the operator typed ("alice "), not
// "alice\u{20}".
func editable(s string) string { return shown(s, false, false) }

// quoteNeeded reports whether printable quotes s: when it escapes a rune
// or a space of it, or s begins with a double quote (it would pass for a
// quoted value).
func quoteNeeded(s string) bool {
	return !textsafe.Safe(s) || textsafe.HiddenSpaces(s) || strings.HasPrefix(s, `"`)
}

// shown is printable: its ASCII spaces escaped as there when spaces is
// set, quoted (backslashes and double quotes escaped) when quote is.
func shown(s string, spaces, quote bool) string {
	var b strings.Builder
	if quote {
		b.WriteByte('"')
	}
	n := 0
	prev := rune(-1)
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size <= 1:
			fmt.Fprintf(&b, `\x%02x`, s[i])
		case quote && (r == '\\' || r == '"'):
			b.WriteByte('\\')
			b.WriteRune(r)
		case r == ' ' && spaces && !textsafe.SpaceShown(s, i):
			b.WriteString(`\u{20}`)
		case !textsafe.Unsafe(prev, r):
			b.WriteRune(r)
		case unicode.IsControl(r):
			fmt.Fprintf(&b, `\x%02x`, r)
		default:
			fmt.Fprintf(&b, `\u{%04x}`, r)
		}
		prev = r
		i += size
		if n++; n >= maxShown && i < len(s) {
			b.WriteString("…")
			break
		}
	}
	if quote {
		b.WriteByte('"')
	}
	return b.String()
}

// inline is printable(s) for a sentence: text holding right-to-left
// letters or Arabic digits is isolated (U+2068 FIRST STRONG ISOLATE …
// U+2069 POP DIRECTIONAL ISOLATE), so that the bidirectional algorithm does
// not draw the words and numbers around it into it ("of مستخدم: 2 among"
// would display as "of 2 :مستخدم among"). printable has escaped any
// isolate s held, so s cannot end the isolate early. Text without them
// reorders nothing and is returned as printable returns it.
func inline(s string) string {
	p := printable(s)
	if strings.ContainsFunc(p, rightToLeft) {
		return "\u2068" + p + "\u2069"
	}
	return p
}

// rightToLeft reports whether r is of a bidirectional class that displays
// right to left: R (Hebrew…), AL (Arabic…) or AN (Arabic-Indic digits).
func rightToLeft(r rune) bool {
	p, _ := bidi.LookupRune(r)
	switch p.Class() {
	case bidi.R, bidi.AL, bidi.AN:
		return true
	}
	return false
}

// shownLayout is how the console's pages show a time: UTC, to the second.
const shownLayout = "2006-01-02 15:04:05Z"

// when shows a time in UTC to the second; zero shows as a dash.
func when(t time.Time) string {
	if t.IsZero() {
		return "—"
	}
	return t.UTC().Format(shownLayout)
}
