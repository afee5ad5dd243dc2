package console

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"
)

// FuzzConsolePage: whatever consolePage lets a sign-in return to is the
// text given, one of the console's pages on the console's own origin as
// Go and a browser read it (a browser also takes "\" for "/" and drops
// tabs and newlines), and http.Redirect sends it as it is.
func FuzzConsolePage(f *testing.F) {
	for _, s := range []string{
		"/console/events?subject=a%26b&type=session.created", "/console/keys", "//evil.example/console/events",
		"/console/%2F%2Fevil.example", "/console/../evil", "/\\evil.example/console/events", "/console/events\t",
		"/console/events?next=https://evil.example", "/console/events#x", "https://evil.example/console/events",
		"/console/events?a=\"><script>alert(1)</script>", "/console/sessions?ip=::1&device=%E2%80%AE",
	} {
		f.Add(s)
	}
	origin, _ := url.Parse("https://console.example/console/signin")
	f.Fuzz(func(t *testing.T, s string) {
		got := consolePage(s)
		if got == "" {
			return
		}
		if got != s || len(s) > maxReturn {
			t.Fatalf("consolePage(%q) = %q; want it unchanged or refused", s, got)
		}
		if strings.ContainsAny(s, "\\\t\r\n") || !strings.HasPrefix(s, Prefix+"/") || strings.Contains(s, "//") {
			t.Fatalf("consolePage(%q) accepted what a browser may read as another origin", s)
		}
		u, err := url.Parse(s)
		if err != nil {
			t.Fatalf("consolePage(%q) accepted what does not parse: %v", s, err)
		}
		to := origin.ResolveReference(u)
		if to.Scheme != origin.Scheme || to.Host != origin.Host || to.User != nil ||
			!slices.Contains(consolePages, strings.TrimPrefix(to.Path, Prefix)) || to.EscapedPath() != to.Path {
			t.Fatalf("consolePage(%q) accepted %s, not a console page of %s", s, to, origin.Host)
		}
		w := httptest.NewRecorder()
		http.Redirect(w, httptest.NewRequest(http.MethodPost, origin.String(), nil), s, http.StatusSeeOther)
		if loc := w.Header().Get("Location"); loc != s {
			t.Fatalf("http.Redirect(%q) sends Location %q", s, loc)
		}
	})
}

// FuzzParseTime: a time field the console takes is in UTC, from 1970 on,
// at most a minute ahead of now, and shown (showTime) as a text the field
// takes back as the same instant; a refusal never holds markup typed.
func FuzzParseTime(f *testing.F) {
	now := time.Date(2026, 12, 6, 15, 4, 5, 0, time.UTC)
	for _, s := range []string{
		"2026-12-06T15:04Z", "2026-12-06T15:04", "2026-12-06T15:04:05Z", "2026-12-06T15:04:05.123456789Z",
		"2026-12-06 15:04:05Z", "2026-12-06 15:04Z", "1970-01-01T00:30:00+01:00", "1969-12-31T23:30:00-01:00",
		"2026-13-06T15:04Z", "2026-12-06T16:04+01:00", "9999-12-31T23:59:59Z", "<script>", "2026-12-06T15:04:05.Z",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := parseTime("since", s, now)
		if err != nil {
			// Markup typed is not echoed (html/template would escape it
			// anyway); the messages are fixed words and digits.
			if strings.ContainsAny(s, "<>\"'&") && strings.Contains(err.Error(), s) {
				t.Fatalf("parseTime(%q) error %q holds the text typed", s, err)
			}
			return
		}
		if got.Location() != time.UTC || got.Year() < 1970 || got.After(now.Add(time.Minute)) {
			t.Fatalf("parseTime(%q) = %v; want a UTC time from 1970 to a minute past %v", s, got, now)
		}
		shown := showTime(got)
		again, err := parseTime("since", shown, now)
		if err != nil || !again.Equal(got) {
			t.Fatalf("parseTime(%q) = %v, shown as %q, read back as %v, %v", s, got, shown, again, err)
		}
	})
}
