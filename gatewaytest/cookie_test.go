package gatewaytest

// sessiond's cookies through the example proxy configurations: the app
// behind them gets its own cookies, as sent and in order, and none of
// sessiond's, while sessiond (the check and its own routes) still gets them
// all. The recording backend of bypass_test.go stands in the app's place and
// echoes the headers it received.

import (
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sessiond/sessiond/internal/testenv"
)

// The harness's sessiond runs on plain HTTP (cookie.secure: false), so its
// access cookie is "sessiond", the default name without its __Host- prefix.
const accessCookie = "sessiond"

// signIn signs subject in through the proxy at base as a browser does, with
// app cookies set before (before) and after (after) the login code is
// redeemed; it returns the client and the access cookie's value.
func (rs *recStack) signIn(t *testing.T, base, subject string, before, after []*http.Cookie) (*client, string) {
	t.Helper()
	hc, jar := testenv.CookieClient(&http.Client{Timeout: 10 * time.Second})
	c := &client{t: t, base: base, c: hc}
	u, err := url.Parse(base + "/")
	if err != nil {
		t.Fatal(err)
	}
	jar.SetCookies(u, before)
	rs.loginAPI(t, c, subject)
	jar.SetCookies(u, after)
	for _, k := range jar.Cookies(u) {
		if k.Name == accessCookie {
			return c, k.Value
		}
	}
	t.Fatalf("no %s cookie after signing in; the jar holds %v", accessCookie, jar.Cookies(u))
	return nil, ""
}

// echoed is what the recording backend received for one request.
type echoed struct {
	URI    string      `json:"uri"`
	Header http.Header `json:"header"`
}

// atApp sends one request through the proxy and returns what the app
// received; it fails t unless the app answered.
func atApp(t *testing.T, c *http.Client, base, path string, hdr ...string) echoed {
	t.Helper()
	res, body := testenv.Send(t, c, http.MethodGet, base+path, "", append(slices.Clone(navigation), hdr...)...)
	var e echoed
	if res.StatusCode != 200 || json.Unmarshal([]byte(body), &e) != nil || e.URI != path {
		t.Fatalf("GET %s = %d %q %.200q; want 200 from the app", path, res.StatusCode, res.Header.Get("Location"), body)
	}
	return e
}

// redact hides the access token in what the app received, for failure
// messages.
func redact(vals []string, tok string) []string {
	out := make([]string, len(vals))
	for i, v := range vals {
		out[i] = strings.ReplaceAll(v, tok, "<token>")
	}
	return out
}

// The app receives its own cookies and none of sessiond's, on public and
// protected pages, while sessiond still authenticates the request.
func TestProxy_SessiondCookiesStayOut(t *testing.T) {
	if testing.Short() {
		t.Skip("starts NGINX and Caddy")
	}
	ctx, cancel := testenv.BeforeDeadline(t)
	defer cancel()
	rs := startRecStack(t, ctx)
	defer rs.dump(t)
	pages := []struct {
		path    string
		subject string // the X-Sessiond-Subject the app gets
	}{{"/app", "carol"}, {"/", ""}}

	for _, proxy := range []string{"nginx", "caddy"} {
		base := rs.proxies[proxy]
		t.Run(proxy, func(t *testing.T) {
			t.Run("signed-in browser", func(t *testing.T) {
				before := []*http.Cookie{{Name: "theme", Value: "dark", Path: "/"}, {Name: "cart", Value: "42", Path: "/"}}
				after := []*http.Cookie{{Name: "seen", Value: "1", Path: "/"}}
				c, tok := rs.signIn(t, base, "carol", before, after)
				for _, p := range pages {
					// The jar sends theme=dark; cart=42; sessiond=…; seen=1.
					e := atApp(t, c.c, base, p.path)
					if got, want := e.Header.Values("Cookie"), []string{"theme=dark; cart=42; seen=1"}; !slices.Equal(got, want) {
						t.Errorf("GET %s: the app received Cookie %q; want %q", p.path, redact(got, tok), want)
					}
					if got := e.Header.Get("X-Sessiond-Subject"); got != p.subject {
						t.Errorf("GET %s: X-Sessiond-Subject = %q; want %q", p.path, got, p.subject)
					}
				}
				if r := c.do(http.MethodGet, "/sessiond/session", "", script...); r.status != 200 || !strings.Contains(r.body, `"subject":"carol"`) {
					t.Errorf("GET /sessiond/session = %d %q; want carol's session: sessiond's routes get its cookies", r.status, r.body)
				}
			})

			// Hand-built Cookie headers with the real access cookie (S) in
			// every position.
			const s = "<S>"
			cases := []struct {
				name   string
				lines  []string            // Cookie header lines sent, S standing for the access cookie
				bearer bool                // authenticate with Authorization instead
				want   []string            // Cookie header lines the app receives; nil: none
				differ map[string][]string // want, for a proxy that differs
			}{
				{name: "alone", lines: []string{s}, want: nil},
				{name: "first", lines: []string{s + "; a=1; b=2"}, want: []string{"a=1; b=2"}},
				{name: "middle", lines: []string{"a=1; " + s + "; b=2"}, want: []string{"a=1; b=2"}},
				{name: "last", lines: []string{"a=1; b=2; " + s}, want: []string{"a=1; b=2"}},
				{name: "no space after the separator", lines: []string{"a=1;" + s + ";b=2"}, want: []string{"a=1;b=2"}},
				{name: "two spaces after the separator", lines: []string{"a=1;  " + s + ";  b=2"}, want: []string{"a=1;  b=2"}},
				{
					// Names that contain or extend sessiond's, or differ in
					// case (cookie names are case-sensitive), are the app's.
					name:  "look-alike names",
					lines: []string{"__Host-sessiond-x=1; x__Host-sessiond=2; " + s + "; sessiond-x=3; xsessiond=4; Sessiond=5; __HOST-sessiond=6; SESSIOND-REFRESH=7; a=sessiond=8; sessiond-refreshx=9"},
					want:  []string{"__Host-sessiond-x=1; x__Host-sessiond=2; sessiond-x=3; xsessiond=4; Sessiond=5; __HOST-sessiond=6; SESSIOND-REFRESH=7; a=sessiond=8; sessiond-refreshx=9"},
				},
				{
					// The access, refresh and DBSC cookies, with and without
					// the __Host-/__Secure- prefix, in three runs.
					name:  "every name of sessiond's",
					lines: []string{"__Host-sessiond=h; a=1; " + s + "; __Secure-sessiond-refresh=r; sessiond-refresh=r; b=2; __Host-sessiond-bound=d; sessiond-bound=d; __Secure-sessiond-bound=d; __Secure-sessiond=s"},
					want:  []string{"a=1; b=2"},
				},
				{name: "three apart", lines: []string{"sessiond-bound=d; a=1; " + s + "; b=2; sessiond-refresh=r; c=3"}, want: []string{"a=1; b=2; c=3"}},
				{
					// NGINX takes out three runs, then drops every cookie
					// rather than pass one of sessiond's on.
					name:   "four apart",
					lines:  []string{"sessiond-bound=d; a=1; " + s + "; b=2; sessiond-refresh=r; c=3; __Host-sessiond=h; d=4"},
					want:   []string{"a=1; b=2; c=3; d=4"},
					differ: map[string][]string{"nginx": nil},
				},
				{
					// Several HTTP/1.1 lines, which browsers do not send
					// (Go joins HTTP/2 and HTTP/3 crumbs before Caddy's
					// handlers): NGINX joins them, Caddy edits each and
					// keeps the emptied one.
					name:   "split over header lines",
					lines:  []string{"a=1", s, "b=2; sessiond-bound=d"},
					want:   []string{"a=1", "", "b=2"},
					differ: map[string][]string{"nginx": {"a=1; b=2"}},
				},
				{name: "app cookies only", lines: []string{"a=1; b=2"}, bearer: true, want: []string{"a=1; b=2"}},
				{name: "no Cookie header", bearer: true, want: nil},
			}
			for _, tc := range cases {
				t.Run(tc.name, func(t *testing.T) {
					want := tc.want
					if w, ok := tc.differ[proxy]; ok {
						want = w
					}
					hc := &http.Client{Timeout: 10 * time.Second, CheckRedirect: testenv.NoRedirect}
					for _, p := range pages {
						// A fresh session each time: the access token lives
						// only a few seconds here.
						_, tok := rs.signIn(t, base, "carol", nil, nil)
						var hdr []string
						for _, l := range tc.lines {
							hdr = append(hdr, "Cookie", strings.ReplaceAll(l, s, accessCookie+"="+tok))
						}
						if tc.bearer {
							hdr = append(hdr, "Authorization", "Bearer "+tok)
						}
						e := atApp(t, hc, base, p.path, hdr...)
						if got := e.Header.Values("Cookie"); !slices.Equal(got, want) {
							t.Errorf("GET %s with Cookie %q: the app received Cookie %q; want %q", p.path, tc.lines, redact(got, tok), want)
						}
						if strings.Contains(strings.Join(e.Header.Values("Cookie"), "; "), tok) {
							t.Errorf("GET %s: the app received the access token", p.path)
						}
						if got := e.Header.Get("X-Sessiond-Subject"); got != p.subject {
							t.Errorf("GET %s: X-Sessiond-Subject = %q; want %q (sessiond authenticated the request)", p.path, got, p.subject)
						}
						if tc.bearer {
							continue
						}
						// sessiond's own routes get the cookies as sent.
						res, body := testenv.Send(t, hc, http.MethodGet, base+"/sessiond/session", "", append(slices.Clone(script), hdr...)...)
						if res.StatusCode != 200 || !strings.Contains(body, `"subject":"carol"`) {
							t.Errorf("GET /sessiond/session with Cookie %q = %d %q; want carol's session", tc.lines, res.StatusCode, body)
						}
					}
				})
			}
		})
	}
}
