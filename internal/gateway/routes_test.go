package gateway_test

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/httpsession"
	"github.com/sessiond/sessiond/internal/gateway"
)

const formType = "application/x-www-form-urlencoded"

func TestLogout(t *testing.T) {
	for _, c := range []struct {
		name, path, body string
		hdr              []string
		status           int
		location         string
	}{
		{"script", "/sessiond/logout", "", []string{"Sec-Fetch-Site", "same-origin", navigate, "cors"}, 204, ""},
		{"form with return_to", "/sessiond/logout", "return_to=%2Fbye", []string{"Content-Type", formType, "Sec-Fetch-Site", "same-origin", navigate, "navigate"}, 303, "/bye"},
		{"form, return_to in the query", "/sessiond/logout?return_to=/bye", "", []string{"Content-Type", formType}, 303, "/bye"},
		{"form without return_to", "/sessiond/logout", "x=1", []string{"Content-Type", formType}, 204, ""},
		{"script with return_to", "/sessiond/logout?return_to=/bye", "", nil, 204, ""},
		{"trusted origin", "/sessiond/logout", "", []string{"Origin", "https://admin.example.com", "Sec-Fetch-Site", "cross-site"}, 204, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			e := newEnv(t, envOptions{trustedOrigins: []string{"https://admin.example.com"}})
			iss := e.login(t, "alice")
			b := e.loggedIn(t, iss)
			r := b.do(http.MethodPost, c.path, c.body, c.hdr...)
			if r.StatusCode != c.status || r.Header.Get("Location") != c.location {
				t.Fatalf("logout = %d %q (%s); want %d %q", r.StatusCode, r.Header.Get("Location"), r.body, c.status, c.location)
			}
			if alive(t, e, iss.AccessToken) {
				t.Error("the session is alive after logout")
			}
			if got := r.Header.Get("Clear-Site-Data"); got != `"cookies", "storage"` {
				t.Errorf("Clear-Site-Data = %q", got)
			}
			sc := r.Header.Values("Set-Cookie")
			for _, name := range []string{httpsession.DefaultCookieName, httpsession.DefaultRefreshCookieName} {
				found := false
				for _, v := range sc {
					found = found || strings.HasPrefix(v, name+"=;") && strings.Contains(v, "Max-Age=0")
				}
				if !found {
					t.Errorf("logout does not expire %s with Max-Age=0: %q", name, sc)
				}
			}
			if b.cookie(httpsession.DefaultCookieName) != "" || b.cookie(httpsession.DefaultRefreshCookieName) != "" {
				t.Error("the browser still holds sessiond cookies after logout")
			}
		})
	}
}

func TestLogout_Refused(t *testing.T) {
	bad := []string{"//evil.example", "/\\evil.example", "https://evil.example/", "javascript:alert(1)", "/%2F%2Fevil.example", "/%5Cevil", "/\t/evil.example", "%2F%2Fevil"}
	type tc struct {
		name, method, path, body string
		hdr                      []string
		status                   int
	}
	cases := []tc{
		{"cross-site form", http.MethodPost, "/sessiond/logout", "", []string{"Content-Type", formType, "Sec-Fetch-Site", "cross-site", "Origin", "https://evil.example"}, 403},
		{"same-site, other origin", http.MethodPost, "/sessiond/logout", "", []string{"Sec-Fetch-Site", "same-site", "Origin", "https://other.example.com"}, 403},
		{"Origin mismatch, no Sec-Fetch-Site", http.MethodPost, "/sessiond/logout", "", []string{"Origin", "https://evil.example"}, 403},
		{"GET", http.MethodGet, "/sessiond/logout", "", nil, 405},
		{"two return_to", http.MethodPost, "/sessiond/logout", "return_to=/a&return_to=/b", []string{"Content-Type", formType}, 400},
		{"oversized form", http.MethodPost, "/sessiond/logout", "return_to=/" + strings.Repeat("a", 10000), []string{"Content-Type", formType}, 400},
	}
	for _, rt := range bad {
		cases = append(cases, tc{"form return_to " + rt, http.MethodPost, "/sessiond/logout", "return_to=" + url.QueryEscape(rt), []string{"Content-Type", formType}, 400},
			tc{"query return_to " + rt, http.MethodPost, "/sessiond/logout?return_to=" + url.QueryEscape(rt), "", nil, 400})
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := newEnv(t, envOptions{})
			iss := e.login(t, "alice")
			r := e.loggedIn(t, iss).do(c.method, c.path, c.body, c.hdr...)
			if r.StatusCode != c.status || r.Header.Get("Location") != "" || len(r.Header.Values("Set-Cookie")) != 0 {
				t.Errorf("logout = %d Location %q Set-Cookie %q; want %d, no redirect, no cookie", r.StatusCode, r.Header.Get("Location"), r.Header.Values("Set-Cookie"), c.status)
			}
			if !alive(t, e, iss.AccessToken) {
				t.Error("a refused logout revoked the session")
			}
		})
	}
}

func TestRefresh(t *testing.T) {
	e := newEnv(t, envOptions{})
	iss := e.login(t, "alice")
	b := e.loggedIn(t, iss)
	e.clock.Advance(accessTTL + time.Minute)
	r := b.do(http.MethodPost, "/sessiond/refresh", "", "Sec-Fetch-Site", "same-origin")
	if r.StatusCode != 200 || strings.Contains(r.body, "token\"") && strings.Contains(r.body, string(iss.RefreshToken[:20])) {
		t.Fatalf("refresh = %d %s; want 200 with expiry times", r.StatusCode, r.body)
	}
	var body httpsession.Expiry
	if err := json.Unmarshal([]byte(r.body), &body); err != nil || !body.AccessExpiresAt.After(e.clock.Now()) {
		t.Errorf("refresh body %s: %v; want a future access_token_expires_at", r.body, err)
	}
	newAccess := b.cookie(httpsession.DefaultCookieName)
	if newAccess == "" || newAccess == string(iss.AccessToken) || b.cookie(httpsession.DefaultRefreshCookieName) == string(iss.RefreshToken) {
		t.Fatal("refresh did not rotate the cookies")
	}
	if r := b.do(http.MethodGet, "/sessiond/check", ""); r.StatusCode != 200 {
		t.Errorf("check after refresh = %d; want 200", r.StatusCode)
	}
	// Reuse detection, as POST /v1/sessions/refresh: the old refresh token
	// presented again after the grace window revokes the session.
	e.clock.Advance(10 * time.Second)
	thief := e.loggedIn(t, iss)
	if r := thief.do(http.MethodPost, "/sessiond/refresh", ""); r.StatusCode != 401 {
		t.Errorf("replayed refresh token = %d; want 401", r.StatusCode)
	}
	if alive(t, e, sessiond.Secret(newAccess)) {
		t.Error("reuse of a refresh token did not revoke the session")
	}
}

func TestRefresh_Refused(t *testing.T) {
	for _, c := range []struct {
		name   string
		method string
		hdr    []string
		status int
	}{
		{"cross-site", http.MethodPost, []string{"Sec-Fetch-Site", "cross-site", "Origin", "https://evil.example"}, 403},
		{"Origin mismatch", http.MethodPost, []string{"Origin", "https://evil.example"}, 403},
		{"PUT", http.MethodPut, nil, 405},
	} {
		t.Run(c.name, func(t *testing.T) {
			e := newEnv(t, envOptions{})
			iss := e.login(t, "alice")
			b := e.loggedIn(t, iss)
			r := b.do(c.method, "/sessiond/refresh", "", c.hdr...)
			if r.StatusCode != c.status || len(r.Header.Values("Set-Cookie")) != 0 {
				t.Errorf("refresh = %d Set-Cookie %q; want %d and no cookie", r.StatusCode, r.Header.Values("Set-Cookie"), c.status)
			}
			if b.cookie(httpsession.DefaultRefreshCookieName) != string(iss.RefreshToken) {
				t.Error("a refused refresh changed the refresh cookie")
			}
		})
	}
	e := newEnv(t, envOptions{})
	if r := e.browser(t).do(http.MethodPost, "/sessiond/refresh", ""); r.StatusCode != 401 {
		t.Errorf("refresh without a cookie = %d; want 401", r.StatusCode)
	}
	// RFC 9110 §15.5.6: Allow lists every method the route answers, the
	// resume page's GET and HEAD with the refresh's POST.
	for _, m := range []string{http.MethodPut, http.MethodDelete, http.MethodOptions, "TRACE", "FOO"} {
		if r := e.browser(t).do(m, "/sessiond/refresh", ""); r.StatusCode != 405 || r.Header.Get("Allow") != "GET, HEAD, POST" {
			t.Errorf("%s refresh = %d, Allow %q; want 405, Allow \"GET, HEAD, POST\"", m, r.StatusCode, r.Header.Get("Allow"))
		}
	}
}

// TestRefreshPage: GET /sessiond/refresh is the page an expired navigation
// lands on; it changes nothing by itself.
func TestRefreshPage(t *testing.T) {
	e := newEnv(t, envOptions{})
	iss := e.login(t, "alice")
	b := e.loggedIn(t, iss)
	r := b.do(http.MethodGet, "/sessiond/refresh?return_to="+url.QueryEscape(`/o?a=1&b="<x>"`), "")
	if r.StatusCode != 200 || !strings.HasPrefix(r.Header.Get("Content-Type"), "text/html") || len(r.Header.Values("Set-Cookie")) != 0 {
		t.Fatalf("page = %d %s, Set-Cookie %q; want 200 HTML and no cookie", r.StatusCode, r.Header.Get("Content-Type"), r.Header.Values("Set-Cookie"))
	}
	if !strings.Contains(r.body, `data-to="/o?a=1&amp;b=&#34;&lt;x&gt;&#34;"`) || strings.Contains(r.body, `"<x>"`) {
		t.Errorf("the page does not carry return_to escaped: %s", r.body)
	}
	csp := r.Header.Get("Content-Security-Policy")
	if !strings.Contains(csp, "script-src 'sha256-") || !strings.Contains(csp, "default-src 'none'") {
		t.Errorf("Content-Security-Policy = %q", csp)
	}
	// The browser runs the script only if the policy names its hash, and
	// lets it POST the refresh only with connect-src 'self'.
	_, script, _ := strings.Cut(r.body, "<script>")
	script, _, _ = strings.Cut(script, "</script>")
	sum := sha256.Sum256([]byte(script))
	if want := "script-src 'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "';"; script == "" || !strings.Contains(csp, want) || !strings.Contains(csp, "connect-src 'self';") {
		t.Errorf("Content-Security-Policy = %q; want %q and connect-src 'self' for the page's script", csp, want)
	}
	if b.cookie(httpsession.DefaultRefreshCookieName) != string(iss.RefreshToken) {
		t.Error("GET refresh rotated the refresh token")
	}
	for _, rt := range []string{"//evil.example", "/\\evil", "https://evil.example", "/%2F%2Fevil", "javascript:alert(1)"} {
		if r := b.do(http.MethodGet, "/sessiond/refresh?return_to="+url.QueryEscape(rt), ""); r.StatusCode != 400 || strings.Contains(r.body, "evil") {
			t.Errorf("page with return_to %q = %d; want 400 without echoing it", rt, r.StatusCode)
		}
	}
}

func TestSession(t *testing.T) {
	e := newEnv(t, envOptions{})
	iss := e.login(t, "alice")
	b := e.loggedIn(t, iss)
	r := b.do(http.MethodGet, "/sessiond/session", "")
	if r.StatusCode != 200 || r.Header.Get("Cache-Control") != "no-store" {
		t.Fatalf("session = %d; want 200 no-store", r.StatusCode)
	}
	var got gateway.SessionInfo
	if err := json.Unmarshal([]byte(r.body), &got); err != nil {
		t.Fatal(err)
	}
	if got.Subject != "alice" || got.SessionID != iss.Session.ID || !got.ExpiresAt.Equal(iss.Session.ExpiresAt) || got.Anomalies == nil {
		t.Errorf("session = %+v", got)
	}
	for _, tok := range []sessiond.Secret{iss.AccessToken, iss.RefreshToken} {
		if strings.Contains(r.body, string(tok)) {
			t.Error("GET /sessiond/session echoes a token")
		}
	}
	if r := e.browser(t).do(http.MethodGet, "/sessiond/session", ""); r.StatusCode != 401 {
		t.Errorf("session without a cookie = %d; want 401", r.StatusCode)
	}
	// RFC 9110 §15.5.6: Allow lists every method the route answers.
	if r := b.do(http.MethodPost, "/sessiond/session", ""); r.StatusCode != 405 || r.Header.Get("Allow") != "GET, HEAD" {
		t.Errorf("POST session = %d, Allow %q; want 405, Allow \"GET, HEAD\"", r.StatusCode, r.Header.Get("Allow"))
	}
	if r := b.do(http.MethodGet, "/sessiond/nope", ""); r.StatusCode != 404 {
		t.Errorf("unknown route = %d; want 404", r.StatusCode)
	}
}

func TestSetCookieValues(t *testing.T) {
	e := newEnv(t, envOptions{})
	iss := e.login(t, "alice")
	vals, err := e.g.SetCookieValues(iss)
	if err != nil || len(vals) != 2 {
		t.Fatalf("SetCookieValues = %q, %v; want two values", vals, err)
	}
	// Relayed by a backend, they log the browser in.
	rec := httptestRecorderWith(vals)
	b := e.browser(t)
	u, _ := url.Parse(e.srv.URL + "/sessiond/refresh")
	b.jar.SetCookies(u, (&http.Response{Header: rec}).Cookies())
	if r := b.do(http.MethodGet, "/sessiond/check", ""); r.StatusCode != 200 {
		t.Errorf("check with relayed cookies = %d; want 200", r.StatusCode)
	}
}

func httptestRecorderWith(setCookies []string) http.Header {
	h := http.Header{}
	for _, v := range setCookies {
		h.Add("Set-Cookie", v)
	}
	return h
}

func TestNew(t *testing.T) {
	e := newEnv(t, envOptions{})
	for _, c := range []struct{ name, login, prefix string }{
		{"no login URL", "", ""},
		{"network-path login URL", "//evil.example/login", ""},
		{"javascript login URL", "javascript:alert(1)", ""},
		{"relative login URL", "login", ""},
		{"prefix with trailing slash", "/login", "/sessiond/"},
		{"root prefix", "/login", "/"},
		{"prefix with dots", "/login", "/a/../b"},
		{"prefix with space", "/login", "/a b"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := gateway.New(gateway.Options{Sessions: e.s, Meta: e.store, LoginURL: c.login, Prefix: c.prefix})
			if !errors.Is(err, sessiond.ErrInvalidArgument) {
				t.Errorf("New = %v; want ErrInvalidArgument", err)
			}
		})
	}
	if _, err := gateway.New(gateway.Options{Sessions: e.s, LoginURL: "/login"}); !errors.Is(err, sessiond.ErrInvalidArgument) {
		t.Errorf("New without Meta = %v; want ErrInvalidArgument", err)
	}
	g := mustGateway(t, e, "https://id.example.com/login", "/auth/gw")
	req, _ := http.NewRequest(http.MethodGet, "/auth/gw/check", nil)
	req.Header.Set("Authorization", "Bearer "+string(e.login(t, "alice").AccessToken))
	if rec := serve(g, req); rec.Code != 200 {
		t.Errorf("check under a custom prefix = %d; want 200", rec.Code)
	}
	_ = context.Background
}
