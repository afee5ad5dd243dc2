package console_test

import (
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"
)

// reauthShown is what the kill switch page says about the sign-in's age:
// which of its two notices is shown, and the seconds left it hands to
// console.js.
type reauthShown struct {
	soon, due bool
	in        string
}

func reauthOf(t *testing.T, page string) reauthShown {
	t.Helper()
	soon, due := between(page, `id="reauth-soon"`, ">"), between(page, `id="reauth-due"`, ">")
	if soon == "" || due == "" {
		t.Fatalf("the kill switch page has no sign-in notice: %q", between(page, `<form method="post" action="/console/incident"`, "</form>"))
	}
	in := ""
	if m := regexp.MustCompile(`data-reauth-in="([^"]*)"`).FindStringSubmatch(soon); m != nil {
		in = m[1]
	}
	return reauthShown{soon: !strings.Contains(soon, " hidden"), due: !strings.Contains(due, " hidden"), in: in}
}

// TestConsole_IncidentFormSaysWhenSignInIsDue: the kill switch needs a
// sign-in within the last 15 minutes, and a form submitted later is sent
// to the sign-in page and lost. The form says so before it is filled in:
// until when it can be run, and, once the sign-in is too old, that running
// it now asks for a sign-in first (with a link to sign in again in a new
// tab, which keeps the form). What it says agrees with what the server
// then does, to the second.
func TestConsole_IncidentFormSaysWhenSignInIsDue(t *testing.T) {
	for _, tc := range []struct {
		name    string
		after   time.Duration // since sign-in; the session is used every 10 minutes
		want    reauthShown
		by      string
		runs    bool // the kill switch runs when submitted then
		refresh bool // sign in again (as in a new tab) before looking
	}{
		{"just signed in", 0, reauthShown{soon: true, in: "900"}, "2026-12-03 12:15:00Z", true, false},
		{"ten minutes in", 10 * time.Minute, reauthShown{soon: true, in: "300"}, "2026-12-03 12:15:00Z", true, false},
		{"at the deadline", 15 * time.Minute, reauthShown{soon: true, in: "0"}, "2026-12-03 12:15:00Z", true, false},
		{"a second past it", 15*time.Minute + time.Second, reauthShown{due: true, in: "0"}, "", false, false},
		{"signed in again", 20 * time.Minute, reauthShown{soon: true, in: "900"}, "2026-12-03 12:35:00Z", true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			c := f.signedIn()
			for left := tc.after; left > 0; {
				step := min(left, 10*time.Minute)
				f.clock.Advance(step)
				left -= step
				if resp, _ := f.do(c, "GET", "/console/overview", nil, "same-origin"); resp.StatusCode != http.StatusOK {
					t.Fatalf("console session ended while in use: %d", resp.StatusCode)
				}
			}
			if tc.refresh {
				f.signIn(c)
			}
			resp, page := f.do(c, "GET", "/console/incident", nil, "same-origin")
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("GET /console/incident = %d", resp.StatusCode)
			}
			if got := reauthOf(t, page); got != tc.want {
				t.Errorf("%v after sign-in the page shows %+v; want %+v", tc.after, got, tc.want)
			}
			if tc.by != "" && !strings.Contains(page, "Run it by "+tc.by+", 15 minutes after you signed in") {
				t.Errorf("the page does not say to run it by %s: %q", tc.by, between(page, `id="reauth-soon"`, "</p>"))
			}
			if tc.want.due && !strings.Contains(between(page, `id="reauth-due"`, "</p>"), `<a href="/console/signin?reauth=1" target="_blank" rel="noopener"`) {
				t.Errorf("the due notice has no link to sign in again in a new tab: %q", between(page, `id="reauth-due"`, "</p>"))
			}
			// A refused form (no REVOKE) comes back with the notice too.
			form := url.Values{"scope": {"subjects"}, "subjects": {"alice"}, "reason": {"breach"}, "confirm": {""}}
			if resp, page := f.do(c, "POST", "/console/incident", form, "same-origin"); tc.runs &&
				(resp.StatusCode != http.StatusBadRequest || reauthOf(t, page) != tc.want) {
				t.Errorf("refused form: %d, notice %+v; want 400 and %+v", resp.StatusCode, reauthOf(t, page), tc.want)
			}
			form.Set("confirm", "REVOKE")
			resp, _ = f.do(c, "POST", "/console/incident", form, "same-origin")
			if ran := resp.StatusCode == http.StatusOK && len(f.incidents) == 1; ran != tc.runs {
				t.Errorf("kill switch submitted %v after sign-in: %d %q, ran %v; the page said it would run: %v",
					tc.after, resp.StatusCode, resp.Header.Get("Location"), ran, tc.runs)
			}
		})
	}
}
