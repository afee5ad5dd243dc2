package httpsession_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/httpsession"
	"github.com/sessiond/sessiond/internal/testenv"
	"github.com/sessiond/sessiond/memstore"
)

// attrs returns a Set-Cookie line without its name=value pair.
func attrs(line string) string {
	_, rest, _ := strings.Cut(line, ";")
	return strings.TrimSpace(rest)
}

func TestSessions_Login_CookieAttributes(t *testing.T) {
	const hybridAge = "Max-Age=5400" // b2c: access 1h, then idle 30m
	tests := []struct {
		name     string
		strategy sessiond.Strategy
		opts     httpsession.Options
		manager  func(*sessiond.Options)
		query    string
		want     map[string]string // cookie name → attributes, exactly
	}{
		{
			name: "hybrid defaults", strategy: sessiond.StrategyHybrid,
			want: map[string]string{
				"__Host-sessiond":           "Path=/; " + hybridAge + "; HttpOnly; Secure; SameSite=Lax",
				"__Secure-sessiond-refresh": "Path=/auth/refresh; " + hybridAge + "; HttpOnly; Secure; SameSite=Lax",
			},
		},
		{
			name: "jwt defaults", strategy: sessiond.StrategyJWT,
			want: map[string]string{
				"__Host-sessiond":           "Path=/; " + hybridAge + "; HttpOnly; Secure; SameSite=Lax",
				"__Secure-sessiond-refresh": "Path=/auth/refresh; " + hybridAge + "; HttpOnly; Secure; SameSite=Lax",
			},
		},
		{
			name: "database: access cookie until the absolute expiry (8h)", strategy: sessiond.StrategyDatabase,
			want: map[string]string{"__Host-sessiond": "Path=/; Max-Age=28800; HttpOnly; Secure; SameSite=Lax"},
		},
		{
			name: "persistent hybrid lives the refresh lifetime (30d)", strategy: sessiond.StrategyHybrid, query: "&remember",
			want: map[string]string{
				"__Host-sessiond":           "Path=/; Max-Age=2592000; HttpOnly; Secure; SameSite=Lax",
				"__Secure-sessiond-refresh": "Path=/auth/refresh; Max-Age=2592000; HttpOnly; Secure; SameSite=Lax",
			},
		},
		{
			name: "capped at 400 days", strategy: sessiond.StrategyHybrid, query: "&remember",
			manager: func(o *sessiond.Options) {
				o.Lifetimes = sessiond.Lifetimes{Access: time.Hour, Refresh: 500 * 24 * time.Hour, Idle: time.Hour, Absolute: 8 * time.Hour}
			},
			want: map[string]string{
				"__Host-sessiond":           "Path=/; Max-Age=34560000; HttpOnly; Secure; SameSite=Lax",
				"__Secure-sessiond-refresh": "Path=/auth/refresh; Max-Age=34560000; HttpOnly; Secure; SameSite=Lax",
			},
		},
		{
			name: "strict, custom names and path", strategy: sessiond.StrategyHybrid,
			opts: httpsession.Options{SameSite: http.SameSiteStrictMode, CookieName: "__Host-app", RefreshCookieName: "__Secure-app-rt", RefreshPath: "/api/refresh"},
			want: map[string]string{
				"__Host-app":      "Path=/; " + hybridAge + "; HttpOnly; Secure; SameSite=Strict",
				"__Secure-app-rt": "Path=/api/refresh; " + hybridAge + "; HttpOnly; Secure; SameSite=Strict",
			},
		},
		{
			name: "insecure dev cookies: no Secure, no prefixes", strategy: sessiond.StrategyHybrid,
			opts: httpsession.Options{InsecureDevCookies: true},
			want: map[string]string{
				"sessiond":         "Path=/; " + hybridAge + "; HttpOnly; SameSite=Lax",
				"sessiond-refresh": "Path=/auth/refresh; " + hybridAge + "; HttpOnly; SameSite=Lax",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, envOptions{strategy: tt.strategy, opts: tt.opts, manager: tt.manager})
			b := e.browser(t)
			resp := b.do(http.MethodPost, "/login?user=alice"+tt.query, nil)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("POST /login = %d; want 200", resp.StatusCode)
			}
			if got := resp.Header.Get("Cache-Control"); got != "no-store" {
				t.Errorf("Cache-Control = %q; want no-store", got)
			}
			lines := resp.Header.Values("Set-Cookie")
			if len(lines) != len(tt.want) {
				t.Fatalf("Set-Cookie = %q; want %d cookies", lines, len(tt.want))
			}
			body := readBody(t, resp)
			for _, line := range lines {
				name, value, _ := strings.Cut(strings.SplitN(line, ";", 2)[0], "=")
				want, ok := tt.want[name]
				if !ok {
					t.Errorf("unexpected cookie %q", line)
					continue
				}
				if got := attrs(line); got != want {
					t.Errorf("cookie %s attributes = %q; want %q", name, got, want)
				}
				if strings.Contains(strings.ToLower(line), "domain") {
					t.Errorf("cookie %s has a Domain: %q", name, line)
				}
				if len(name)+len(value) > 4096 {
					t.Errorf("cookie %s is %d bytes; browsers drop cookies over 4096", name, len(name)+len(value))
				}
				if value == "" || strings.Contains(body, value) {
					t.Errorf("cookie %s: the login body %q echoes the token (checklist 15)", name, body)
				}
			}
		})
	}
}

func TestSessions_Login_Fixation(t *testing.T) {
	for _, st := range []sessiond.Strategy{sessiond.StrategyDatabase, sessiond.StrategyHybrid} {
		tests := []struct {
			name string
			// carried returns the cookie the victim's browser holds before
			// logging in, and the session it belongs to ("" if none).
			carried func(t *testing.T, e *env) (string, sessiond.SessionID)
		}{
			{"attacker's live session planted", func(t *testing.T, e *env) (string, sessiond.SessionID) {
				iss, err := e.m.Create(context.Background(), "mallory", sessiond.CreateOptions{})
				if err != nil {
					t.Fatal(err)
				}
				return string(iss.AccessToken), iss.Session.ID
			}},
			{"the user's previous session", func(t *testing.T, e *env) (string, sessiond.SessionID) {
				iss, err := e.m.Create(context.Background(), "alice", sessiond.CreateOptions{})
				if err != nil {
					t.Fatal(err)
				}
				return string(iss.AccessToken), iss.Session.ID
			}},
			{"garbage", func(t *testing.T, e *env) (string, sessiond.SessionID) { return "sdat_not-a-real-token", "" }},
		}
		if st == sessiond.StrategyHybrid {
			tests = append(tests, struct {
				name    string
				carried func(t *testing.T, e *env) (string, sessiond.SessionID)
			}{"a session whose access token has expired", func(t *testing.T, e *env) (string, sessiond.SessionID) {
				iss, err := e.m.Create(context.Background(), "alice", sessiond.CreateOptions{})
				if err != nil {
					t.Fatal(err)
				}
				e.clock.Advance(61 * time.Minute) // past the 1h access token, inside the 30m idle window
				return string(iss.AccessToken), iss.Session.ID
			}})
		}
		for _, tt := range tests {
			t.Run(string(st)+"/"+tt.name, func(t *testing.T) {
				e := newEnv(t, envOptions{strategy: st})
				b := e.browser(t)
				x, oldID := tt.carried(t, e)
				b.setCookie(httpsession.DefaultCookieName, x)

				b.login("alice")
				y := b.cookie("/", httpsession.DefaultCookieName)
				if y == "" || y == x {
					t.Fatalf("after login the session cookie is %q; want a new one (pre-login %q)", y, x)
				}
				if resp := b.do(http.MethodGet, "/me", nil); resp.StatusCode != http.StatusOK {
					t.Errorf("GET /me with the new cookie = %d; want 200", resp.StatusCode)
				} else if body := readBody(t, resp); !strings.HasPrefix(body, "alice ") || strings.Contains(body, string(oldID)) && oldID != "" {
					t.Errorf("GET /me = %q; want alice in a new session (old %s)", body, oldID)
				}
				if got := e.status(t, http.MethodGet, "/me", "Cookie", httpsession.DefaultCookieName+"="+x); got != http.StatusUnauthorized {
					t.Errorf("GET /me with the pre-login cookie = %d; want 401", got)
				}
				if oldID != "" {
					if _, err := e.m.Get(context.Background(), oldID); !errors.Is(err, sessiond.ErrNotFound) {
						t.Errorf("Get(pre-login session) = %v; want ErrNotFound (revoked)", err)
					}
				}
			})
		}
	}
}

func TestSessions_Logout(t *testing.T) {
	tests := []struct {
		name     string
		strategy sessiond.Strategy
		opts     httpsession.Options
		want     []string
		expire   time.Duration // advance the clock before logging out
	}{
		{
			name: "hybrid", strategy: sessiond.StrategyHybrid,
			want: []string{
				"__Host-sessiond=; Path=/; Max-Age=0; HttpOnly; Secure; SameSite=Lax",
				"__Secure-sessiond-refresh=; Path=/auth/refresh; Max-Age=0; HttpOnly; Secure; SameSite=Lax",
			},
		},
		{
			name: "hybrid with an expired access token", strategy: sessiond.StrategyHybrid, expire: 61 * time.Minute,
			want: []string{
				"__Host-sessiond=; Path=/; Max-Age=0; HttpOnly; Secure; SameSite=Lax",
				"__Secure-sessiond-refresh=; Path=/auth/refresh; Max-Age=0; HttpOnly; Secure; SameSite=Lax",
			},
		},
		{
			name: "database", strategy: sessiond.StrategyDatabase,
			want: []string{
				"__Host-sessiond=; Path=/; Max-Age=0; HttpOnly; Secure; SameSite=Lax",
				"__Secure-sessiond-refresh=; Path=/auth/refresh; Max-Age=0; HttpOnly; Secure; SameSite=Lax",
			},
		},
		{
			name: "insecure dev cookies, strict", strategy: sessiond.StrategyHybrid,
			opts: httpsession.Options{InsecureDevCookies: true, SameSite: http.SameSiteStrictMode},
			want: []string{
				"sessiond=; Path=/; Max-Age=0; HttpOnly; SameSite=Strict",
				"sessiond-refresh=; Path=/auth/refresh; Max-Age=0; HttpOnly; SameSite=Strict",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, envOptions{strategy: tt.strategy, opts: tt.opts})
			b := e.browser(t)
			b.login("alice")
			name := e.s.CookieName()
			at := b.cookie("/", name)
			sess, err := e.m.Verify(context.Background(), sessiond.Secret(at), sessiond.Client{})
			if err != nil {
				t.Fatal(err)
			}
			e.clock.Advance(tt.expire)

			resp := b.do(http.MethodPost, "/logout", nil)
			if resp.StatusCode != http.StatusNoContent {
				t.Fatalf("POST /logout = %d; want 204", resp.StatusCode)
			}
			if got := resp.Header.Values("Set-Cookie"); strings.Join(got, "\n") != strings.Join(tt.want, "\n") {
				t.Errorf("Set-Cookie =\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
			if got := resp.Header.Get("Clear-Site-Data"); got != `"cookies", "storage"` {
				t.Errorf(`Clear-Site-Data = %q; want "cookies", "storage"`, got)
			}
			if got := resp.Header.Get("Cache-Control"); got != "no-store" {
				t.Errorf("Cache-Control = %q; want no-store", got)
			}
			if v := b.cookie("/", name); v != "" {
				t.Errorf("the jar still holds %s=%q", name, v)
			}
			if _, err := e.m.Get(context.Background(), sess.ID); !errors.Is(err, sessiond.ErrNotFound) {
				t.Errorf("Get(logged-out session) = %v; want ErrNotFound (revoked)", err)
			}
			if got := e.status(t, http.MethodGet, "/me", "Cookie", name+"="+at); got != http.StatusUnauthorized {
				t.Errorf("GET /me with the logged-out cookie = %d; want 401", got)
			}
		})
	}
}

func TestSessions_CSRF(t *testing.T) {
	e := newEnv(t, envOptions{opts: httpsession.Options{TrustedOrigins: []string{"https://admin.example.com"}}})
	b := e.browser(t)
	b.login("alice")
	tests := []struct {
		name   string
		method string
		hdr    []string
		want   int
	}{
		{"cross-site POST", http.MethodPost, []string{"Sec-Fetch-Site", "cross-site"}, http.StatusForbidden},
		{"same-site (sibling subdomain) POST", http.MethodPost, []string{"Sec-Fetch-Site", "same-site"}, http.StatusForbidden},
		{"evil Origin, no Fetch Metadata", http.MethodPost, []string{"Origin", "https://evil.example"}, http.StatusForbidden},
		{"Origin null", http.MethodPost, []string{"Origin", "null"}, http.StatusForbidden},
		{"cross-site DELETE-like PUT", http.MethodPut, []string{"Sec-Fetch-Site", "cross-site"}, http.StatusForbidden},
		{"same-origin POST", http.MethodPost, []string{"Sec-Fetch-Site", "same-origin"}, http.StatusOK},
		{"same Origin, no Fetch Metadata", http.MethodPost, []string{"Origin", e.srv.URL}, http.StatusOK},
		{"trusted origin", http.MethodPost, []string{"Sec-Fetch-Site", "cross-site", "Origin", "https://admin.example.com"}, http.StatusOK},
		{"cross-site GET is a safe method", http.MethodGet, []string{"Sec-Fetch-Site", "cross-site", "Origin", "https://evil.example"}, http.StatusOK},
		{"non-browser client (no Origin, no Fetch Metadata)", http.MethodPost, nil, http.StatusOK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := b.do(tt.method, "/me", nil, tt.hdr...)
			if resp.StatusCode != tt.want {
				t.Errorf("%s /me %v = %d; want %d", tt.method, tt.hdr, resp.StatusCode, tt.want)
			}
		})
	}
	t.Run("a refused request changes nothing", func(t *testing.T) {
		for _, path := range []string{"/logout", "/login?user=mallory", "/rotate", httpsession.DefaultRefreshPath} {
			resp := b.do(http.MethodPost, path, nil, "Sec-Fetch-Site", "cross-site", "Origin", "https://evil.example")
			if resp.StatusCode != http.StatusForbidden {
				t.Errorf("cross-site POST %s = %d; want 403", path, resp.StatusCode)
			}
			if len(resp.Header.Values("Set-Cookie")) != 0 {
				t.Errorf("cross-site POST %s set cookies: %q", path, resp.Header.Values("Set-Cookie"))
			}
		}
		if resp := b.do(http.MethodGet, "/me", nil); resp.StatusCode != http.StatusOK || !strings.HasPrefix(readBody(t, resp), "alice ") {
			t.Errorf("after the refused requests GET /me = %d; want alice still logged in", resp.StatusCode)
		}
	})
}

// TestSessions_CSRF_Event: a refused cross-origin request is recorded in
// the security event log (request.csrf_rejected) with what the browser
// said of it; an allowed one is not.
func TestSessions_CSRF_Event(t *testing.T) {
	e := newEnv(t, envOptions{})
	b := e.browser(t)
	b.login("alice")
	rejected := func() []sessiond.Event { return e.events.OfType(sessiond.EventCSRFRejected) }
	b.do(http.MethodPost, "/me", nil, "Sec-Fetch-Site", "same-origin")
	if n := len(rejected()); n != 0 {
		t.Fatalf("%d request.csrf_rejected events after a same-origin POST; want 0", n)
	}
	if resp := b.do(http.MethodPost, "/logout", nil, "Sec-Fetch-Site", "cross-site", "Origin", "https://evil.example"); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("cross-site POST /logout = %d; want 403", resp.StatusCode)
	}
	got := rejected()
	if len(got) != 1 {
		t.Fatalf("%d request.csrf_rejected events after a cross-site POST; want 1", len(got))
	}
	if ev := got[0]; ev.Client.IP != "127.0.0.1" || ev.Details["method"] != "POST" || ev.Details["path"] != "/logout" ||
		ev.Details["origin"] != "https://evil.example" || ev.Details["sec_fetch_site"] != "cross-site" {
		t.Errorf("event = %+v; want the client, POST /logout, origin https://evil.example, cross-site", ev)
	}
}

func TestSessions_Require_Credentials(t *testing.T) {
	e := newEnv(t, envOptions{})
	b := e.browser(t)
	b.login("alice")
	at := b.cookie("/", httpsession.DefaultCookieName)
	name := httpsession.DefaultCookieName
	tests := []struct {
		name   string
		method string
		path   string
		body   string
		hdr    []string
		want   int
	}{
		{"cookie", http.MethodGet, "/me", "", []string{"Cookie", name + "=" + at}, http.StatusOK},
		{"bearer", http.MethodGet, "/me", "", []string{"Authorization", "Bearer " + at}, http.StatusOK},
		{"bearer, scheme in lower case", http.MethodGet, "/me", "", []string{"Authorization", "bearer " + at}, http.StatusOK},
		{"another scheme is ignored, the cookie counts", http.MethodGet, "/me", "", []string{"Authorization", "Basic YTpi", "Cookie", name + "=" + at}, http.StatusOK},
		{"no credentials", http.MethodGet, "/me", "", nil, http.StatusUnauthorized},
		{"token in ?access_token=", http.MethodGet, "/me?access_token=" + url.QueryEscape(at), "", nil, http.StatusUnauthorized},
		{"token in ?sid=", http.MethodGet, "/me?sid=" + url.QueryEscape(at), "", nil, http.StatusUnauthorized},
		{"token in a form field", http.MethodPost, "/me", "access_token=" + url.QueryEscape(at) + "&" + name + "=" + url.QueryEscape(at), []string{"Content-Type", "application/x-www-form-urlencoded"}, http.StatusUnauthorized},
		{"cookie name in the wrong case", http.MethodGet, "/me", "", []string{"Cookie", "__host-sessiond=" + at}, http.StatusUnauthorized},
		{"cookie name without the prefix", http.MethodGet, "/me", "", []string{"Cookie", "sessiond=" + at}, http.StatusUnauthorized},
		{"refresh token as access token", http.MethodGet, "/me", "", []string{"Cookie", name + "=" + b.cookie(httpsession.DefaultRefreshPath, httpsession.DefaultRefreshCookieName)}, http.StatusUnauthorized},
		{"garbage cookie", http.MethodGet, "/me", "", []string{"Cookie", name + "=garbage"}, http.StatusUnauthorized},
		{"quote and unicode", http.MethodGet, "/me", "", []string{"Cookie", name + "=x'\u00e9\u00e9"}, http.StatusUnauthorized},
		{"oversized cookie (10 kB)", http.MethodGet, "/me", "", []string{"Cookie", name + "=" + strings.Repeat("A", 10<<10)}, http.StatusUnauthorized},
		{"oversized bearer (10 kB)", http.MethodGet, "/me", "", []string{"Authorization", "Bearer " + strings.Repeat("A", 10<<10)}, http.StatusUnauthorized},
		{"tampered token", http.MethodGet, "/me", "", []string{"Cookie", name + "=" + at[:len(at)-2] + "xx"}, http.StatusUnauthorized},
		{"empty bearer", http.MethodGet, "/me", "", []string{"Authorization", "Bearer "}, http.StatusUnauthorized},
		{"two Authorization headers", http.MethodGet, "/me", "", []string{"Authorization", "Bearer " + at, "Authorization", "Bearer " + at}, http.StatusUnauthorized},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var body *strings.Reader
			if tt.body != "" {
				body = strings.NewReader(tt.body)
			}
			req, err := http.NewRequest(tt.method, e.srv.URL+tt.path, nil)
			if body != nil {
				req, err = http.NewRequest(tt.method, e.srv.URL+tt.path, body)
			}
			if err != nil {
				t.Fatal(err)
			}
			for i := 0; i+1 < len(tt.hdr); i += 2 {
				req.Header.Add(tt.hdr[i], tt.hdr[i+1])
			}
			resp, err := e.srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			got := readBody(t, resp)
			if resp.StatusCode != tt.want {
				t.Fatalf("%s %s = %d %q; want %d", tt.method, tt.path, resp.StatusCode, got, tt.want)
			}
			if tt.want != http.StatusUnauthorized {
				return
			}
			if ct := resp.Header.Get("Content-Type"); ct != "application/problem+json" {
				t.Errorf("Content-Type = %q; want application/problem+json", ct)
			}
			var p struct {
				Code   string `json:"code"`
				Status int    `json:"status"`
			}
			if err := json.Unmarshal([]byte(got), &p); err != nil || p.Code != "unauthorized" || p.Status != 401 {
				t.Errorf("body = %q; want a problem with code unauthorized", got)
			}
			if strings.Contains(got, at) || strings.Contains(got, "AAAA") || strings.Contains(got, "garbage") {
				t.Errorf("the 401 body %q reflects the credential", got)
			}
		})
	}
}

func TestSessions_Refresh(t *testing.T) {
	e := newEnv(t, envOptions{manager: func(o *sessiond.Options) { o.ReuseInterval = -1 }})
	b := e.browser(t)
	b.login("alice")
	at0 := b.cookie("/", httpsession.DefaultCookieName)
	rt0 := b.cookie(httpsession.DefaultRefreshPath, httpsession.DefaultRefreshCookieName)

	t.Run("the refresh cookie goes to the refresh path only", func(t *testing.T) {
		if v := b.cookie("/me", httpsession.DefaultRefreshCookieName); v != "" {
			t.Errorf("the jar sends the refresh cookie to /me")
		}
		if rt0 == "" {
			t.Fatalf("the jar does not send the refresh cookie to %s", httpsession.DefaultRefreshPath)
		}
	})

	e.clock.Advance(61 * time.Minute) // the access token has expired
	if got := b.do(http.MethodGet, "/me", nil).StatusCode; got != http.StatusUnauthorized {
		t.Fatalf("GET /me with an expired access token = %d; want 401", got)
	}

	resp := b.do(http.MethodPost, httpsession.DefaultRefreshPath, nil, "Sec-Fetch-Site", "same-origin")
	body := readBody(t, resp)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("POST %s = %d %q; want 200", httpsession.DefaultRefreshPath, resp.StatusCode, body)
	}
	var exp map[string]any
	if err := json.Unmarshal([]byte(body), &exp); err != nil {
		t.Fatalf("refresh body %q: %v", body, err)
	}
	wantAccess := t0.Add(61 * time.Minute).Add(time.Hour).Format(time.RFC3339)
	wantRefresh := t0.Add(61 * time.Minute).Add(90 * time.Minute).Format(time.RFC3339)
	// reuse_interval_seconds: the Manager's (none here), which the browser
	// client bounds its first refresh attempt by (sdk/sessiond.js);
	// expires_in: the access token's seconds from the answer on.
	if len(exp) != 4 || exp["access_token_expires_at"] != wantAccess || exp["expires_in"] != 3600.0 || exp["refresh_token_expires_at"] != wantRefresh || exp["reuse_interval_seconds"] != 0.0 {
		t.Errorf("refresh body = %s; want exactly access_token_expires_at %s, expires_in 3600, refresh_token_expires_at %s and reuse_interval_seconds 0", body, wantAccess, wantRefresh)
	}
	if got := resp.Header.Get("Cache-Control"); got != "no-store" {
		t.Errorf("Cache-Control = %q; want no-store", got)
	}
	at1 := b.cookie("/", httpsession.DefaultCookieName)
	rt1 := b.cookie(httpsession.DefaultRefreshPath, httpsession.DefaultRefreshCookieName)
	if at1 == at0 || rt1 == rt0 || at1 == "" || rt1 == "" {
		t.Fatalf("refresh did not set new cookies")
	}
	for _, tok := range []string{at0, at1, rt0, rt1} {
		if strings.Contains(body, tok) {
			t.Errorf("the refresh body echoes a token (checklist 15)")
		}
	}
	if got := b.do(http.MethodGet, "/me", nil).StatusCode; got != http.StatusOK {
		t.Errorf("GET /me after refresh = %d; want 200", got)
	}

	t.Run("GET is refused", func(t *testing.T) {
		if got := b.do(http.MethodGet, httpsession.DefaultRefreshPath, nil).StatusCode; got != http.StatusMethodNotAllowed {
			t.Errorf("GET %s = %d; want 405", httpsession.DefaultRefreshPath, got)
		}
	})

	t.Run("no refresh cookie", func(t *testing.T) {
		if got := e.status(t, http.MethodPost, httpsession.DefaultRefreshPath); got != http.StatusUnauthorized {
			t.Errorf("POST %s without a cookie = %d; want 401", httpsession.DefaultRefreshPath, got)
		}
	})

	t.Run("a replayed refresh token revokes the session", func(t *testing.T) {
		e.clock.Advance(time.Second)
		thief := e.browser(t)
		u, _ := url.Parse(e.srv.URL + httpsession.DefaultRefreshPath)
		thief.jar.SetCookies(u, []*http.Cookie{{Name: httpsession.DefaultRefreshCookieName, Value: rt0, Path: httpsession.DefaultRefreshPath, Secure: true}})
		resp := thief.do(http.MethodPost, httpsession.DefaultRefreshPath, nil)
		if resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("refresh with a retired token = %d; want 401", resp.StatusCode)
		}
		if n := e.events.Count(sessiond.EventRefreshReused); n != 1 {
			t.Errorf("%s events = %d; want 1", sessiond.EventRefreshReused, n)
		}
		for name, c := range setCookies(t, resp) {
			if c.MaxAge >= 0 {
				t.Errorf("cookie %s not expired after a refused refresh", name)
			}
		}
		if got := b.do(http.MethodGet, "/me", nil).StatusCode; got != http.StatusUnauthorized {
			t.Errorf("the victim's GET /me after reuse = %d; want 401 (family revoked)", got)
		}
		if got := b.do(http.MethodPost, httpsession.DefaultRefreshPath, nil).StatusCode; got != http.StatusUnauthorized {
			t.Errorf("the victim's refresh after reuse = %d; want 401", got)
		}
	})
}

func TestSessions_Refresh_Strategies(t *testing.T) {
	t.Run("jwt", func(t *testing.T) {
		e := newEnv(t, envOptions{strategy: sessiond.StrategyJWT})
		b := e.browser(t)
		b.login("alice")
		e.clock.Advance(61 * time.Minute)
		if resp := b.do(http.MethodPost, httpsession.DefaultRefreshPath, nil); resp.StatusCode != http.StatusOK {
			t.Fatalf("refresh = %d %q; want 200", resp.StatusCode, readBody(t, resp))
		}
		if got := b.do(http.MethodGet, "/me", nil).StatusCode; got != http.StatusOK {
			t.Errorf("GET /me after refresh = %d; want 200", got)
		}
	})
	t.Run("database reports the session's end", func(t *testing.T) {
		e := newEnv(t, envOptions{strategy: sessiond.StrategyDatabase})
		b := e.browser(t)
		b.login("alice")
		resp := b.do(http.MethodPost, httpsession.DefaultRefreshPath, nil)
		body := readBody(t, resp)
		want := `{"access_token_expires_at":"` + t0.Add(8*time.Hour).Format(time.RFC3339) + `","expires_in":28800}` + "\n"
		if resp.StatusCode != http.StatusOK || body != want {
			t.Errorf("refresh = %d %q; want 200 %q", resp.StatusCode, body, want)
		}
		if n := len(resp.Header.Values("Set-Cookie")); n != 0 {
			t.Errorf("database refresh set %d cookies; want none", n)
		}
	})
}

func TestSessions_RevokedElsewhere(t *testing.T) {
	for _, st := range []sessiond.Strategy{sessiond.StrategyDatabase, sessiond.StrategyHybrid} {
		t.Run(string(st), func(t *testing.T) {
			e := newEnv(t, envOptions{strategy: st})
			b := e.browser(t)
			b.login("alice")
			other := e.browser(t)
			other.login("alice")
			if n, err := e.m.RevokeSubject(context.Background(), "alice", "", sessiond.ReasonAdmin); err != nil || n != 2 {
				t.Fatalf("RevokeSubject = %d, %v; want 2", n, err)
			}
			if got := b.do(http.MethodGet, "/me", nil).StatusCode; got != http.StatusUnauthorized {
				t.Errorf("GET /me after revocation = %d; want 401", got)
			}
			if got := other.do(http.MethodGet, "/me", nil).StatusCode; got != http.StatusUnauthorized {
				t.Errorf("the other device's GET /me after revocation = %d; want 401", got)
			}
			if st == sessiond.StrategyHybrid {
				if got := b.do(http.MethodPost, httpsession.DefaultRefreshPath, nil).StatusCode; got != http.StatusUnauthorized {
					t.Errorf("refresh after revocation = %d; want 401", got)
				}
			}
		})
	}
}

func TestSessions_Rotate(t *testing.T) {
	e := newEnv(t, envOptions{})
	b := e.browser(t)
	b.login("alice")
	x := b.cookie("/", httpsession.DefaultCookieName)
	rx := b.cookie(httpsession.DefaultRefreshPath, httpsession.DefaultRefreshCookieName)
	if resp := b.do(http.MethodPost, "/rotate", nil); resp.StatusCode != http.StatusOK {
		t.Fatalf("POST /rotate = %d %q; want 200", resp.StatusCode, readBody(t, resp))
	} else if got := resp.Header.Get("Cache-Control"); got != "no-store" {
		t.Errorf("Cache-Control = %q; want no-store", got)
	}
	y := b.cookie("/", httpsession.DefaultCookieName)
	if y == x || y == "" {
		t.Fatalf("rotate kept the session cookie")
	}
	if resp := b.do(http.MethodGet, "/me", nil); resp.StatusCode != http.StatusOK || !strings.HasPrefix(readBody(t, resp), "alice ") {
		t.Errorf("GET /me after rotate = %d; want alice", resp.StatusCode)
	}
	if got := e.status(t, http.MethodGet, "/me", "Cookie", httpsession.DefaultCookieName+"="+x); got != http.StatusUnauthorized {
		t.Errorf("GET /me with the pre-rotation cookie = %d; want 401", got)
	}
	if got := e.status(t, http.MethodPost, httpsession.DefaultRefreshPath, "Cookie", httpsession.DefaultRefreshCookieName+"="+rx); got != http.StatusUnauthorized {
		t.Errorf("refresh with the pre-rotation refresh token = %d; want 401", got)
	}
	if got := e.status(t, http.MethodPost, "/rotate"); got != http.StatusUnauthorized {
		t.Errorf("POST /rotate without a session = %d; want 401", got)
	}
}

func TestSessions_Optional(t *testing.T) {
	e := newEnv(t, envOptions{})
	b := e.browser(t)
	if got := readBody(t, b.do(http.MethodGet, "/maybe", nil)); got != "anonymous" {
		t.Errorf("GET /maybe without a session = %q; want anonymous", got)
	}
	b.setCookie(httpsession.DefaultCookieName, "garbage")
	if got := readBody(t, b.do(http.MethodGet, "/maybe", nil)); got != "anonymous" {
		t.Errorf("GET /maybe with garbage = %q; want anonymous", got)
	}
	b.login("alice")
	if got := readBody(t, b.do(http.MethodGet, "/maybe", nil)); got != "alice" {
		t.Errorf("GET /maybe logged in = %q; want alice", got)
	}
}

func TestRedirectTo(t *testing.T) {
	e := newEnv(t, envOptions{opts: httpsession.Options{Unauthenticated: httpsession.RedirectTo("/login")}})
	tests := []struct {
		name     string
		method   string
		hdr      []string
		want     int
		location string
	}{
		{"page navigation", http.MethodGet, []string{"Sec-Fetch-Mode", "navigate", "Accept", "text/html"}, http.StatusSeeOther, "/login?next=%2Fpage"},
		{"old browser navigation", http.MethodGet, []string{"Accept", "text/html,application/xhtml+xml"}, http.StatusSeeOther, "/login?next=%2Fpage"},
		{"fetch from a script", http.MethodGet, []string{"Sec-Fetch-Mode", "cors", "Accept", "*/*"}, http.StatusUnauthorized, ""},
		{"API client", http.MethodGet, []string{"Accept", "application/json"}, http.StatusUnauthorized, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest(tt.method, e.srv.URL+"/page?access_token=secret", nil)
			for i := 0; i+1 < len(tt.hdr); i += 2 {
				req.Header.Set(tt.hdr[i], tt.hdr[i+1])
			}
			c := *e.srv.Client()
			c.CheckRedirect = testenv.NoRedirect
			resp, err := c.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tt.want || resp.Header.Get("Location") != tt.location {
				t.Errorf("GET /page = %d Location %q; want %d %q", resp.StatusCode, resp.Header.Get("Location"), tt.want, tt.location)
			}
		})
	}
}

// downStore fails every read, as a store that cannot be reached.
type downStore struct{ *memstore.Store }

func (downStore) Lookup(context.Context, sessiond.TokenHash) (sessiond.Token, *sessiond.Session, error) {
	return sessiond.Token{}, nil, sessiond.ErrStoreUnavailable
}

func TestSessions_StoreUnavailable(t *testing.T) {
	e := newEnv(t, envOptions{strategy: sessiond.StrategyDatabase, store: downStore{memstore.New()}})
	iss, err := e.m.Create(context.Background(), "alice", sessiond.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got := e.status(t, http.MethodGet, "/me", "Cookie", httpsession.DefaultCookieName+"="+string(iss.AccessToken)); got != http.StatusServiceUnavailable {
		t.Errorf("GET /me with the store down = %d; want 503 (not a logout)", got)
	}
}

func TestNew(t *testing.T) {
	e := newEnv(t, envOptions{})
	tests := []struct {
		name string
		opts httpsession.Options
		ok   bool
	}{
		{"defaults", httpsession.Options{}, true},
		{"no manager", httpsession.Options{Manager: nil}, false},
		{"__Host- refresh cookie off /", httpsession.Options{RefreshCookieName: "__Host-rt"}, false},
		{"__host- refresh cookie off / (any case)", httpsession.Options{RefreshCookieName: "__host-rt"}, false},
		{"__Host- refresh cookie on /", httpsession.Options{RefreshCookieName: "__Host-rt", RefreshPath: "/"}, true},
		{"same names", httpsession.Options{CookieName: "a", RefreshCookieName: "A"}, false},
		{"invalid name", httpsession.Options{CookieName: "a b"}, false},
		{"relative refresh path", httpsession.Options{RefreshPath: "auth/refresh"}, false},
		{"refresh path with ;", httpsession.Options{RefreshPath: "/a;Domain=evil"}, false},
		{"bad trusted origin", httpsession.Options{TrustedOrigins: []string{"not an origin"}}, false},
		{"trusted origin with a path", httpsession.Options{TrustedOrigins: []string{"https://a.example/x"}}, false},
		{"SameSite=None with Secure", httpsession.Options{SameSite: http.SameSiteNoneMode}, true},
		{"SameSite=None without Secure", httpsession.Options{SameSite: http.SameSiteNoneMode, InsecureDevCookies: true}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.name != "no manager" {
				tt.opts.Manager = e.m
			}
			_, err := httpsession.New(tt.opts)
			if (err == nil) != tt.ok {
				t.Errorf("New(%+v) = %v; want ok %v", tt.opts, err, tt.ok)
			}
			if err != nil && !errors.Is(err, sessiond.ErrInvalidArgument) {
				t.Errorf("New error %v does not match ErrInvalidArgument", err)
			}
		})
	}
	t.Run("insecure dev cookies are logged loudly", func(t *testing.T) {
		var buf bytes.Buffer
		s, err := httpsession.New(httpsession.Options{Manager: e.m, InsecureDevCookies: true,
			Logger: slog.New(slog.NewTextHandler(&buf, nil))})
		if err != nil {
			t.Fatal(err)
		}
		if s.CookieName() != "sessiond" || s.RefreshCookieName() != "sessiond-refresh" {
			t.Errorf("names = %q, %q; want the prefixes dropped", s.CookieName(), s.RefreshCookieName())
		}
		if log := buf.String(); !strings.Contains(log, "level=WARN") || !strings.Contains(log, "INSECURE") {
			t.Errorf("log = %q; want a WARN about insecure cookies", log)
		}
	})
}
