package console_test

import (
	"html"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/sessiond/sessiond/internal/console"
	"github.com/sessiond/sessiond/internal/ratelimit"
)

// signInNext is the next field of the sign-in page's form, "" when none.
func signInNext(body string) string {
	_, rest, ok := strings.Cut(body, `name="next" value="`)
	if !ok {
		return ""
	}
	v, _, _ := strings.Cut(rest, `"`)
	return html.UnescapeString(v)
}

// TestConsole_SignInReturnsToPage: a request without a live console
// session (it timed out, or the operator never signed in) goes to the
// sign-in page with the console page it was for, and signing in returns
// there instead of to the overview: the page a reload or a link asked
// for, the page htmx was on when it sent a form (HX-Current-URL), the
// page a sensitive action needing a fresh sign-in was sent from.
func TestConsole_SignInReturnsToPage(t *testing.T) {
	f := newFixture(t)
	events := "/console/events?subject=a%26b&type=session.created"
	for _, tc := range []struct {
		name, method, path string
		headers            map[string]string
		want               string // the page signing in returns to
		status             int
	}{
		{"page", "GET", events, nil, events, http.StatusSeeOther},
		{"page, htmx", "GET", "/console/sessions?subject=alice", map[string]string{"HX-Request": "true"}, "/console/sessions?subject=alice", http.StatusUnauthorized},
		{"form, htmx", "POST", "/console/sessions/revoke-all", map[string]string{"HX-Request": "true", "HX-Current-URL": f.srv.URL + "/console/sessions?subject=alice"},
			"/console/sessions?subject=alice", http.StatusUnauthorized},
		{"form, htmx on another host", "POST", "/console/sessions/revoke-all", map[string]string{"HX-Request": "true", "HX-Current-URL": "https://evil.example/console/keys"},
			"/console/keys", http.StatusUnauthorized}, // its path only: still this console's page
		{"form without htmx", "POST", "/console/sessions/revoke-all", nil, "", http.StatusSeeOther},
		{"overview", "GET", "/console/overview", nil, "", http.StatusSeeOther},
		{"live tail", "GET", "/console/events/tail?subject=alice", nil, "", http.StatusSeeOther},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := f.browser()
			var form url.Values
			if tc.method == "POST" {
				form = url.Values{"subject": {"alice"}}
			}
			req, _ := http.NewRequestWithContext(t.Context(), tc.method, f.srv.URL+tc.path, strings.NewReader(form.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.Header.Set("Sec-Fetch-Site", "same-origin")
			for k, v := range tc.headers {
				req.Header.Set(k, v)
			}
			resp, err := c.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			to := resp.Header.Get("Location")
			if tc.headers["HX-Request"] != "" {
				to = resp.Header.Get("HX-Redirect")
			}
			want := "/console/signin"
			if tc.want != "" {
				want += "?" + url.Values{"next": {tc.want}}.Encode()
			}
			if resp.StatusCode != tc.status || to != want {
				t.Fatalf("%s %s without a session: %d to %q; want %d to %q", tc.method, tc.path, resp.StatusCode, to, tc.status, want)
			}
			resp, body := f.do(c, "GET", to, nil, "same-origin")
			if resp.StatusCode != http.StatusOK || signInNext(body) != tc.want {
				t.Fatalf("sign-in page %s: %d, next %q; want %q", to, resp.StatusCode, signInNext(body), tc.want)
			}
			// A mistyped key first: the page keeps where to go.
			resp, body = f.do(c, "POST", "/console/signin", url.Values{"api_key": {"sdak_wrong"}, "next": {tc.want}}, "same-origin")
			if resp.StatusCode != http.StatusUnauthorized || signInNext(body) != tc.want {
				t.Errorf("refused sign-in: %d, next %q; want 401 keeping %q", resp.StatusCode, signInNext(body), tc.want)
			}
			resp, _ = f.do(c, "POST", "/console/signin", url.Values{"api_key": {string(f.admin)}, "next": {tc.want}}, "same-origin")
			landing := tc.want
			if landing == "" {
				landing = "/console/overview"
			}
			if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != landing {
				t.Errorf("sign-in: %d to %q; want 303 to %q", resp.StatusCode, resp.Header.Get("Location"), landing)
			}
		})
	}

	t.Run("fresh sign-in for a sensitive action", func(t *testing.T) {
		c := f.signedIn()
		for range 2 { // past DefaultRecentAuth, in use
			f.clock.Advance(10 * time.Minute)
			if resp, _ := f.do(c, "GET", "/console/keys", nil, "same-origin"); resp.StatusCode != http.StatusOK {
				t.Fatalf("keys page: %d", resp.StatusCode)
			}
		}
		req, _ := http.NewRequestWithContext(t.Context(), "POST", f.srv.URL+"/console/keys/rotate", nil)
		req.Header.Set("Sec-Fetch-Site", "same-origin")
		req.Header.Set("HX-Request", "true")
		req.Header.Set("HX-Current-URL", f.srv.URL+"/console/keys")
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if want := "/console/signin?next=%2Fconsole%2Fkeys&reauth=1"; resp.Header.Get("HX-Redirect") != want {
			t.Errorf("rotate with an old sign-in: %d to %q; want %q", resp.StatusCode, resp.Header.Get("HX-Redirect"), want)
		}
	})
}

// TestConsole_SignInNextStaysInConsole: the page sign-in returns to is
// one of the console's own pages, never another site or another path of
// the host (an open redirect would lend the console's name to a phishing
// link: "sign in, then you are taken to…"). Anything else lands on the
// overview, and is not put in the sign-in form.
func TestConsole_SignInNextStaysInConsole(t *testing.T) {
	f := newFixture(t)
	for _, next := range []string{
		"https://evil.example/console/events",
		"http:/evil.example/console/events",
		"//evil.example/console/events",
		"///evil.example/console/events",
		"/\\evil.example/console/events",
		"\\\\evil.example\\console\\events",
		"/console\\..\\..\\evil",
		"/console/events\\..\\..\\\\evil.example",
		"/console//evil.example",
		"/console/events//evil.example",
		"/\t/evil.example/console/events",
		"/console/events\n/x",
		"/console/../evil",
		"/console/./events",
		"/console/%2e%2e/evil",
		"/console/%2F%2Fevil.example",
		"/console/%5Cevil.example",
		"javascript:alert(1)//console/events",
		"data:text/html,<script>alert(1)</script>",
		"evil.example/console/events",
		"console/events",
		"/evil",
		"/consolex/events",
		"/console",
		"/console/",
		"/console/signin",
		"/console/signin?next=https://evil.example",
		"/console/signout",
		"/console/events/tail",
		"/console/static/console.js",
		"/console/sessions/revoke-all",
		"/console/events#https://evil.example",
		"/console/events?since=" + strings.Repeat("1", 4096),
		"/console/events?subject=\u202eevil",
	} {
		t.Run(next, func(t *testing.T) {
			c := f.browser()
			_, body := f.do(c, "GET", "/console/signin?"+url.Values{"next": {next}}.Encode(), nil, "same-origin")
			if got := signInNext(body); got != "" {
				t.Errorf("the sign-in form carries next %q", got)
			}
			resp, _ := f.do(c, "POST", "/console/signin", url.Values{"api_key": {string(f.admin)}, "next": {next}}, "same-origin")
			if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/console/overview" {
				t.Errorf("sign-in with next %q: %d to %q; want 303 to /console/overview", next, resp.StatusCode, resp.Header.Get("Location"))
			}
		})
	}
}

// TestConsole_SignInRateLimitedKeepsNext: a sign-in refused by the limit
// on attempts (429) comes back with the page to return to, as any other
// refusal does, and still only a console page: the form came back without
// it, and the sign-in after the wait landed on the overview.
func TestConsole_SignInRateLimitedKeepsNext(t *testing.T) {
	f := newFixtureWith(t, func(f *fixture, o *console.Options) {
		o.SignInLimit = ratelimit.New(ratelimit.Options{Rate: 1.0 / 60, Burst: 1, Clock: f.clock})
	})
	const events = "/console/events?subject=a%26b&type=session.created"
	for _, tc := range []struct {
		name, next, want string
		pad              int // bytes of another field
	}{
		{"a console page", events, events, 0},
		{"another site", "https://evil.example/console/events", "", 0},
		{"scheme-relative", "//evil.example/console/events", "", 0},
		{"not a page", "/console/events/tail", "", 0},
		{"oversized", "/console/events?since=" + strings.Repeat("1", 4096), "", 0},
		{"form over 16 KiB", events, "", 20 << 10}, // not read: still refused by the limit
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := f.browser()
			f.clock.Advance(time.Minute) // a fresh attempt
			if resp, _ := f.do(c, "POST", "/console/signin", url.Values{"api_key": {"sdak_wrong"}, "next": {tc.next}}, "same-origin"); resp.StatusCode != http.StatusUnauthorized {
				t.Fatalf("first attempt: %d; want 401", resp.StatusCode)
			}
			form := url.Values{"api_key": {string(f.admin)}, "next": {tc.next}}
			if tc.pad > 0 {
				form.Set("pad", strings.Repeat("a", tc.pad))
			}
			resp, body := f.do(c, "POST", "/console/signin", form, "same-origin")
			if resp.StatusCode != http.StatusTooManyRequests || signInNext(body) != tc.want {
				t.Fatalf("over the limit: %d, next %q; want 429 keeping %q", resp.StatusCode, signInNext(body), tc.want)
			}
			f.clock.Advance(time.Minute)
			landing := tc.want
			if landing == "" {
				landing = "/console/overview"
			}
			resp, _ = f.do(c, "POST", "/console/signin", url.Values{"api_key": {string(f.admin)}, "next": {signInNext(body)}}, "same-origin")
			if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != landing {
				t.Errorf("sign-in after the wait: %d to %q; want 303 to %q", resp.StatusCode, resp.Header.Get("Location"), landing)
			}
		})
	}
}
