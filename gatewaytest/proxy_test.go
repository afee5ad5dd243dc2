// Package gatewaytest runs sessiond's browser gateway (docs/gateway.md)
// behind real NGINX and Caddy processes on loopback, with the example
// backend of examples/gateway (Python standard library) and the shipped
// proxy configurations, changed only in their ports: first with a Go HTTP
// client (this file), then with headless Chromium (browser_test.go).
package gatewaytest

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/sessiond/sessiond/internal/testenv"
)

// client is one browser-like HTTP client with its own cookie jar.
type client struct {
	t    *testing.T
	base string
	c    *http.Client
}

func newClient(t *testing.T, base string) *client {
	c, _ := testenv.CookieClient(&http.Client{Timeout: 10 * time.Second})
	return &client{t: t, base: base, c: c}
}

type reply struct {
	status int
	h      http.Header
	body   string
}

func (c *client) do(method, path, body string, hdr ...string) reply {
	c.t.Helper()
	res, b := testenv.Send(c.t, c.c, method, c.base+path, body, hdr...)
	return reply{res.StatusCode, res.Header, b}
}

var (
	navigation = []string{"Sec-Fetch-Mode", "navigate", "Sec-Fetch-Site", "same-origin", "Accept", "text/html,application/xhtml+xml,*/*;q=0.8"}
	script     = []string{"Sec-Fetch-Mode", "cors", "Sec-Fetch-Site", "same-origin", "Accept", "application/json"}
	formPost   = []string{"Content-Type", "application/x-www-form-urlencoded", "Sec-Fetch-Site", "same-origin", "Sec-Fetch-Mode", "navigate"}
)

// login signs in through the app's form and follows the handoff by hand;
// it returns the login-code URL it redeemed.
func (c *client) login(name, pass, returnTo string) string {
	c.t.Helper()
	form := url.Values{"username": {name}, "password": {pass}, "return_to": {returnTo}}.Encode()
	r := c.do(http.MethodPost, "/login", form, formPost...)
	code := r.h.Get("Location")
	if r.status != 303 || !strings.HasPrefix(code, "/sessiond/login?code=sdlc_") {
		c.t.Fatalf("POST /login = %d %q; want 303 to /sessiond/login?code=…", r.status, code)
	}
	r = c.do(http.MethodGet, code, "", navigation...)
	if r.status != 303 {
		c.t.Fatalf("GET %s = %d %s; want 303", code, r.status, r.body)
	}
	return code
}

func (c *client) me() (int, map[string]string) {
	c.t.Helper()
	r := c.do(http.MethodGet, "/api/me", "", script...)
	var m map[string]string
	_ = json.Unmarshal([]byte(r.body), &m)
	return r.status, m
}

func adminRevoke(t *testing.T, st *stack, subject string) {
	t.Helper()
	if code := testenv.CallAPI(t, http.MethodDelete, st.sessiond+"/v1/subjects/"+subject+"/sessions", apiKey, "", nil); code != 200 {
		t.Fatalf("admin revoke = %d", code)
	}
}

func TestGateway(t *testing.T) {
	if testing.Short() {
		t.Skip("the gateway tests start NGINX, Caddy and Chromium; skipped with -short")
	}
	// Bounded by the test binary's deadline, not fixed minutes: at a load
	// of 30 the proxy subtests alone took 216 s of a 4-minute bound and
	// left the browser run 24 s.
	ctx, cancel := testenv.BeforeDeadline(t)
	defer cancel()
	st := startStack(t, ctx)
	defer st.dump(t)
	for _, proxy := range []string{"nginx", "caddy"} {
		t.Run(proxy, func(t *testing.T) { testProxy(t, st, st.proxies[proxy]) })
	}
	t.Run("chromium", func(t *testing.T) { testBrowser(t, ctx, st) })
}

func testProxy(t *testing.T, st *stack, base string) {
	t.Run("without a session", func(t *testing.T) {
		c := newClient(t, base)
		if r := c.do(http.MethodGet, "/", "", navigation...); r.status != 200 {
			t.Errorf("public page = %d; want 200", r.status)
		}
		r := c.do(http.MethodGet, "/app?tab=2", "", navigation...)
		if r.status != 303 || r.h.Get("Location") != "/login?return_to=%2Fapp%3Ftab%3D2" {
			t.Errorf("navigation = %d %q; want 303 /login?return_to=%%2Fapp%%3Ftab%%3D2", r.status, r.h.Get("Location"))
		}
		r = c.do(http.MethodGet, "/api/me", "", script...)
		if r.status != 401 || !strings.Contains(r.h.Get("Content-Type"), "application/problem+json") || !strings.Contains(r.body, `"unauthorized"`) {
			t.Errorf("fetch = %d %s %q; want 401 problem+json", r.status, r.h.Get("Content-Type"), r.body)
		}
		if got := r.h.Values("WWW-Authenticate"); len(got) != 1 || got[0] != "Bearer" {
			t.Errorf("fetch's WWW-Authenticate = %q; want one Bearer challenge", got)
		}
	})

	t.Run("forged identity headers", func(t *testing.T) {
		c := newClient(t, base)
		forged := []string{"X-Sessiond-Subject", "alice", "x-sessiond-session-id", "forged", "X-Sessiond-Step-Up", "true"}
		if r := c.do(http.MethodGet, "/api/me", "", append(script, forged...)...); r.status != 401 {
			t.Errorf("forged headers without a session = %d %q; want 401", r.status, r.body)
		}
		c.login("bob", "builder", "/app")
		r := c.do(http.MethodGet, "/api/me", "", append(script, forged...)...)
		var m map[string]string
		_ = json.Unmarshal([]byte(r.body), &m)
		if r.status != 200 || m["subject"] != "bob" || m["session_id"] == "forged" {
			t.Errorf("forged headers with bob's session = %d %v; want bob's own identity", r.status, m)
		}
		r = c.do(http.MethodGet, "/app", "", append(navigation, "X-Sessiond-Step-Up", "true", "X-Sessiond-Subject", "<b>alice</b>")...)
		if !strings.Contains(r.body, `<strong id="subject">bob</strong>`) || strings.Contains(r.body, "step-up") {
			t.Errorf("the page shows forged identity headers: %s", r.body)
		}
	})

	t.Run("a subject beyond ASCII reaches the app as itself", func(t *testing.T) {
		// X-Sessiond-Subject carries the subject's UTF-8 bytes; a server
		// that reads header values as ISO-8859-1 (Python's http.server,
		// WSGI) would see "zoë" as "zoÃ«", another name.
		c := newClient(t, base)
		c.login("zoë", "pw-zoe", "/app")
		if s, m := c.me(); s != 200 || m["subject"] != "zoë" {
			t.Errorf("/api/me = %d %q; want zoë", s, m["subject"])
		}
		if r := c.do(http.MethodGet, "/app", "", navigation...); !strings.Contains(r.body, `<strong id="subject">zoë</strong>`) {
			t.Errorf("the page does not show zoë: %s", r.body)
		}
	})

	t.Run("login CSRF from a browser without Sec-Fetch-Site", func(t *testing.T) {
		// A browser too old for Fetch Metadata (Safari before 16.4) sends
		// Origin on a form post but no Sec-Fetch-Site, and no
		// Sec-Fetch-Site on the redirect to the login code either: the
		// app's Origin check is all that stops an attacker's page from
		// signing the visitor into the attacker's account.
		self := strings.TrimPrefix(strings.TrimPrefix(base, "http://"), "https://")
		form := url.Values{"username": {user}, "password": {password}, "return_to": {"/app"}}.Encode()
		for _, tc := range []struct {
			name   string
			hdr    []string
			status int
		}{
			{"another origin", []string{"Origin", "https://evil.example"}, 403},
			{"an opaque origin", []string{"Origin", "null"}, 403},
			{"a malformed Origin", []string{"Origin", "http://[x"}, 403},
			{"the same host on another port", []string{"Origin", "http://127.0.0.1:1"}, 403},
			{"this origin", []string{"Origin", "http://" + self}, 303},
			{"no Origin (not a browser's form post)", nil, 303},
			{"Sec-Fetch-Site decides when sent", []string{"Sec-Fetch-Site", "same-origin", "Origin", "https://evil.example"}, 303},
		} {
			hdr := append([]string{"Content-Type", "application/x-www-form-urlencoded"}, tc.hdr...)
			if r := newClient(t, base).do(http.MethodPost, "/login", form, hdr...); r.status != tc.status {
				t.Errorf("login POST from %s = %d %q; want %d", tc.name, r.status, r.h.Get("Location"), tc.status)
			}
		}
	})

	t.Run("login, code reuse, logout", func(t *testing.T) {
		c := newClient(t, base)
		code := c.login(user, password, "/app?x=1")
		if s, m := c.me(); s != 200 || m["subject"] != user {
			t.Fatalf("after login /api/me = %d %v", s, m)
		}
		if r := newClient(t, base).do(http.MethodGet, code, "", navigation...); r.status != 400 || r.h.Get("Set-Cookie") != "" {
			t.Errorf("second use of the login code = %d, Set-Cookie %q; want 400 and none", r.status, r.h.Get("Set-Cookie"))
		}
		r := c.do(http.MethodPost, "/sessiond/logout", "return_to=%2F", formPost...)
		if r.status != 303 || r.h.Get("Location") != "/" || r.h.Get("Clear-Site-Data") != `"cookies", "storage"` {
			t.Errorf("logout = %d %q Clear-Site-Data %q", r.status, r.h.Get("Location"), r.h.Get("Clear-Site-Data"))
		}
		if n := strings.Count(strings.Join(r.h.Values("Set-Cookie"), "\n"), "Max-Age=0"); n != 2 {
			t.Errorf("logout expires %d cookies; want 2: %q", n, r.h.Values("Set-Cookie"))
		}
		if s, _ := c.me(); s != 401 {
			t.Errorf("after logout /api/me = %d; want 401", s)
		}
	})

	t.Run("cross-site and open-redirect attempts", func(t *testing.T) {
		c := newClient(t, base)
		c.login(user, password, "/app")
		evil := []string{"Content-Type", "application/x-www-form-urlencoded", "Sec-Fetch-Site", "cross-site", "Sec-Fetch-Mode", "navigate", "Origin", "http://evil.example"}
		for _, path := range []string{"/sessiond/logout", "/sessiond/refresh"} {
			if r := c.do(http.MethodPost, path, "return_to=%2F", evil...); r.status != 403 || r.h.Get("Set-Cookie") != "" {
				t.Errorf("cross-site POST %s = %d; want 403 and no cookie", path, r.status)
			}
		}
		for _, rt := range []string{"//evil.example", "/\\evil.example", "https://evil.example/", "/%2F%2Fevil.example", "/%5Cevil.example"} {
			if r := c.do(http.MethodPost, "/sessiond/logout", "return_to="+url.QueryEscape(rt), formPost...); r.status != 400 || r.h.Get("Location") != "" {
				t.Errorf("logout with return_to %q = %d %q; want 400", rt, r.status, r.h.Get("Location"))
			}
			if r := c.do(http.MethodGet, "/sessiond/refresh?return_to="+url.QueryEscape(rt), "", navigation...); r.status != 400 {
				t.Errorf("refresh page with return_to %q = %d; want 400", rt, r.status)
			}
		}
		if s, m := c.me(); s != 200 || m["subject"] != user {
			t.Errorf("after the refused attempts /api/me = %d %v; want the session alive", s, m)
		}
		// The app hands sessiond a return_to from its login form; sessiond
		// refuses //evil.example and the app falls back to /app.
		c2 := newClient(t, base)
		form := url.Values{"username": {user}, "password": {password}, "return_to": {"//evil.example/"}}.Encode()
		r := c2.do(http.MethodPost, "/login", form, formPost...)
		r = c2.do(http.MethodGet, r.h.Get("Location"), "", navigation...)
		if r.status != 303 || r.h.Get("Location") != "/app" {
			t.Errorf("login with return_to //evil.example ends at %d %q; want /app", r.status, r.h.Get("Location"))
		}
	})

	t.Run("admin revocation", func(t *testing.T) {
		c := newClient(t, base)
		c.login("bob", "builder", "/app")
		if s, _ := c.me(); s != 200 {
			t.Fatalf("/api/me = %d", s)
		}
		adminRevoke(t, st, "bob")
		if s, _ := c.me(); s != 401 {
			t.Errorf("after an admin revocation /api/me = %d; want 401", s)
		}
		if r := c.do(http.MethodGet, "/app", "", navigation...); r.status != 303 || !strings.HasPrefix(r.h.Get("Location"), "/login") {
			t.Errorf("after an admin revocation /app = %d %q; want the login page", r.status, r.h.Get("Location"))
		}
	})

	t.Run("expired access token", func(t *testing.T) {
		c := newClient(t, base)
		c.login(user, password, "/app")
		time.Sleep(accessTTL + leeway + time.Second)
		r := c.do(http.MethodGet, "/app", "", navigation...)
		if r.status != 303 || r.h.Get("Location") != "/sessiond/refresh?return_to=%2Fapp" {
			t.Fatalf("navigation after expiry = %d %q; want 303 to the refresh page", r.status, r.h.Get("Location"))
		}
		if r := c.do(http.MethodGet, r.h.Get("Location"), "", navigation...); r.status != 200 || !strings.Contains(r.body, `data-to="/app"`) {
			t.Errorf("refresh page = %d %q", r.status, r.body)
		}
		if s, _ := c.me(); s != 401 {
			t.Errorf("fetch after expiry = %d; want 401", s)
		}
		if r := c.do(http.MethodPost, "/sessiond/refresh", "", script...); r.status != 200 {
			t.Errorf("refresh = %d %s", r.status, r.body)
		}
		if s, m := c.me(); s != 200 || m["subject"] != user {
			t.Errorf("after refresh /api/me = %d %v", s, m)
		}
	})
}
