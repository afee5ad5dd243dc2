package gateway_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/httpsession"
)

const (
	navigate = "Sec-Fetch-Mode"
	htmlAcc  = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
)

func TestCheck_Valid(t *testing.T) {
	e := newEnv(t, envOptions{})
	iss := e.login(t, "alice")
	b := e.loggedIn(t, iss)
	for _, c := range []struct {
		name string
		hdr  []string
	}{
		{"cookie", nil},
		{"cookie with forged identity headers", []string{"X-Sessiond-Subject", "admin", "X-Sessiond-Session-Id", "x", "X-Sessiond-Step-Up", "false"}},
		{"cookie, any method from auth_request", []string{"X-Forwarded-Method", "POST", "X-Original-URI", "/api/orders"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := b.do(http.MethodGet, "/sessiond/check", "", c.hdr...)
			if r.StatusCode != 200 || r.body != "" {
				t.Fatalf("check = %d %q; want 200 and no body", r.StatusCode, r.body)
			}
			want := map[string]string{
				"X-Sessiond-Subject":    "alice",
				"X-Sessiond-Session-Id": string(iss.Session.ID),
				"X-Sessiond-Expires-At": iss.Session.ExpiresAt.UTC().Format(time.RFC3339),
				"X-Sessiond-Step-Up":    "",
				"Cache-Control":         "no-store",
			}
			for k, v := range want {
				if got := r.Header.Values(k); strings.Join(got, ",") != v {
					t.Errorf("%s = %q; want %q", k, got, v)
				}
			}
		})
	}
	// A bearer access token works as well as the cookie.
	r := e.browser(t).do(http.MethodGet, "/sessiond/check", "", "Authorization", "Bearer "+string(iss.AccessToken))
	if r.StatusCode != 200 || r.Header.Get("X-Sessiond-Subject") != "alice" {
		t.Errorf("check with Bearer = %d subject %q; want 200 alice", r.StatusCode, r.Header.Get("X-Sessiond-Subject"))
	}
	if _, err := time.Parse(time.RFC3339, r.Header.Get("X-Sessiond-Expires-At")); err != nil {
		t.Errorf("X-Sessiond-Expires-At is not RFC 3339: %v", err)
	}
}

// TestCheck_SubjectNotHeaderSafe: a subject with spaces at either end
// would reach the app as another subject (HTTP trims a header value), so
// check refuses its session with 403, through the cookie and Bearer alike,
// while a subject with inner spaces passes unchanged.
func TestCheck_SubjectNotHeaderSafe(t *testing.T) {
	e := newEnv(t, envOptions{})
	for _, subject := range []string{" alice", "alice ", " ", "  bob  "} {
		iss := e.login(t, subject)
		for name, r := range map[string]response{
			"cookie":                  e.loggedIn(t, iss).do(http.MethodGet, "/sessiond/check", ""),
			"bearer":                  e.browser(t).do(http.MethodGet, "/sessiond/check", "", "Authorization", "Bearer "+string(iss.AccessToken)),
			"auth_request navigation": e.loggedIn(t, iss).do(http.MethodGet, "/sessiond/check", "", navigate, "navigate", "X-Original-URI", "/app"),
		} {
			if r.StatusCode != http.StatusForbidden || !strings.Contains(r.body, "subject_not_header_safe") || r.Header.Get("X-Sessiond-Subject") != "" {
				t.Errorf("check of subject %q (%s) = %d, subject header %q, %s; want 403 subject_not_header_safe and no identity headers",
					subject, name, r.StatusCode, r.Header.Get("X-Sessiond-Subject"), r.body)
			}
		}
	}
	iss := e.login(t, "alice  smith")
	if r := e.loggedIn(t, iss).do(http.MethodGet, "/sessiond/check", ""); r.StatusCode != 200 || r.Header.Get("X-Sessiond-Subject") != "alice  smith" {
		t.Errorf("check of an inner-spaced subject = %d %q; want 200 with it unchanged", r.StatusCode, r.Header.Get("X-Sessiond-Subject"))
	}
}

func TestCheck_Invalid(t *testing.T) {
	e := newEnv(t, envOptions{})
	live, revoked, tampered := badTokens(t, e)
	cookie := func(v string) []string { return []string{"Cookie", httpsession.DefaultCookieName + "=" + v} }
	nav := []string{navigate, "navigate", "Accept", htmlAcc, "X-Forwarded-Uri", "/orders?page=2"}
	loginTarget := "/login?return_to=%2Forders%3Fpage%3D2"
	for _, c := range []struct {
		name     string
		hdr      []string
		status   int
		location string
	}{
		{"no credentials, script", nil, 401, ""},
		{"forged identity header only", []string{"X-Sessiond-Subject", "alice"}, 401, ""},
		{"tampered cookie", cookie(tampered), 401, ""},
		{"revoked session", cookie(string(revoked.AccessToken)), 401, ""},
		{"garbage cookie", cookie("garbage';\"x\""), 401, ""},
		{"oversized bearer", []string{"Authorization", "Bearer " + strings.Repeat("a", 9000)}, 401, ""},
		{"two Authorization headers", []string{"Authorization", "Bearer " + string(live.AccessToken), "Authorization", "Bearer x"}, 401, ""},
		{"wrong-case __host- cookie", []string{"Cookie", "__host-sessiond=" + string(live.AccessToken)}, 401, ""},
		{"navigation, Caddy", nav, 303, loginTarget},
		{"navigation, old browser Accept only", []string{"Accept", htmlAcc, "X-Forwarded-Uri", "/orders?page=2"}, 303, loginTarget},
		{"navigation, NGINX auth_request", []string{navigate, "navigate", "X-Original-URI", "/orders?page=2"}, 401, loginTarget},
		{"NGINX passes a client's X-Forwarded-Uri", []string{navigate, "navigate", "X-Original-URI", "/orders?page=2", "X-Forwarded-Uri", "/elsewhere"}, 401, loginTarget},
		{"navigation of a revoked session", append(cookie(string(revoked.AccessToken)), nav...), 303, loginTarget},
		{"POST form navigation is not redirected", []string{navigate, "navigate", "X-Forwarded-Method", "POST", "X-Forwarded-Uri", "/orders"}, 401, ""},
		{"fetch with Accept html", []string{navigate, "cors", "Accept", "text/html", "X-Forwarded-Uri", "/orders"}, 401, ""},
		{"navigation, original URI //evil", []string{navigate, "navigate", "X-Forwarded-Uri", "//evil.example/x"}, 303, "/login"},
		{"navigation, original URI /\\evil", []string{navigate, "navigate", "X-Forwarded-Uri", "/\\evil.example"}, 303, "/login"},
		{"navigation, original URI encoded //", []string{navigate, "navigate", "X-Forwarded-Uri", "/%2F%2Fevil.example"}, 303, "/login"},
		{"navigation, original URI absolute", []string{navigate, "navigate", "X-Forwarded-Uri", "https://evil.example/"}, 303, "/login"},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := e.browser(t).do(http.MethodGet, "/sessiond/check", "", c.hdr...)
			if r.StatusCode != c.status || r.Header.Get("Location") != c.location {
				t.Fatalf("check = %d Location %q; want %d %q", r.StatusCode, r.Header.Get("Location"), c.status, c.location)
			}
			if r.Header.Get("X-Sessiond-Subject") != "" {
				t.Errorf("refused check carries X-Sessiond-Subject %q", r.Header.Get("X-Sessiond-Subject"))
			}
			if c.status == 401 && (r.Header.Get("Content-Type") != "application/problem+json" || !strings.Contains(r.body, `"unauthorized"`)) {
				t.Errorf("401 body = %s %q; want a problem document", r.Header.Get("Content-Type"), r.body)
			}
			if c.status == 401 && r.Header.Get("WWW-Authenticate") == "" {
				t.Error("401 without WWW-Authenticate")
			}
		})
	}
}

// TestCheck_ExpiredAccess: a page navigation whose access token has
// expired goes to the refresh page, not the login page; a script gets 401.
func TestCheck_ExpiredAccess(t *testing.T) {
	for _, c := range []struct {
		strategy sessiond.Strategy
		location string
	}{
		{sessiond.StrategyHybrid, "/sessiond/refresh?return_to=%2Forders"},
		{sessiond.StrategyJWT, "/sessiond/refresh?return_to=%2Forders"},
		// The database strategy has no refresh token: an expired session is over.
		{sessiond.StrategyDatabase, "/login?return_to=%2Forders"},
	} {
		t.Run(string(c.strategy), func(t *testing.T) {
			e := newEnv(t, envOptions{strategy: c.strategy})
			b := e.loggedIn(t, e.login(t, "alice"))
			if c.strategy == sessiond.StrategyDatabase {
				e.clock.Advance(31 * 24 * time.Hour) // past the idle timeout
			} else {
				e.clock.Advance(accessTTL + time.Minute)
			}
			r := b.do(http.MethodGet, "/sessiond/check", "", navigate, "navigate", "X-Forwarded-Uri", "/orders")
			if r.StatusCode != 303 || r.Header.Get("Location") != c.location {
				t.Errorf("navigation = %d %q; want 303 %q", r.StatusCode, r.Header.Get("Location"), c.location)
			}
			if r := b.do(http.MethodGet, "/sessiond/check", "", navigate, "cors"); r.StatusCode != 401 {
				t.Errorf("fetch = %d; want 401", r.StatusCode)
			}
		})
	}
}

func TestCheck_LoginURLKeepsItsQuery(t *testing.T) {
	e := newEnv(t, envOptions{})
	g2 := mustGateway(t, e, "https://id.example.com/signin?app=shop", "")
	req, _ := http.NewRequest(http.MethodGet, "/sessiond/check", nil)
	req.Header.Set(navigate, "navigate")
	req.Header.Set("X-Forwarded-Uri", "/cart")
	rec := serve(g2, req)
	loc, _ := url.Parse(rec.Header().Get("Location"))
	if rec.Code != 303 || loc.Host != "id.example.com" || loc.Query().Get("app") != "shop" || loc.Query().Get("return_to") != "/cart" {
		t.Errorf("check = %d %q; want 303 to the login URL with app=shop and return_to=/cart", rec.Code, loc)
	}
}

// TestCheck_KeyBoundToken: the access token of a session bound to a DPoP
// key (cnf.jkt) comes with no proof to the gateway, so check and session
// refuse it as a Bearer header or a cookie: a stolen bound token is of no
// use through the proxy.
func TestCheck_KeyBoundToken(t *testing.T) {
	const jkt = "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"
	for _, strategy := range []sessiond.Strategy{sessiond.StrategyDatabase, sessiond.StrategyJWT, sessiond.StrategyHybrid} {
		t.Run(string(strategy), func(t *testing.T) {
			e := newEnv(t, envOptions{strategy: strategy})
			bound, err := e.m.Create(context.Background(), "alice", sessiond.CreateOptions{KeyThumbprint: jkt})
			if err != nil {
				t.Fatal(err)
			}
			plain := e.login(t, "bob")
			for _, route := range []string{"/sessiond/check", "/sessiond/session"} {
				for _, c := range []struct {
					name   string
					hdr    []string
					status int
				}{
					{"bound Bearer", []string{"Authorization", "Bearer " + string(bound.AccessToken)}, 401},
					{"bound cookie", []string{"Cookie", httpsession.DefaultCookieName + "=" + string(bound.AccessToken)}, 401},
					{"unbound Bearer", []string{"Authorization", "Bearer " + string(plain.AccessToken)}, 200},
					{"unbound cookie", []string{"Cookie", httpsession.DefaultCookieName + "=" + string(plain.AccessToken)}, 200},
				} {
					t.Run(route+"/"+c.name, func(t *testing.T) {
						r := e.browser(t).do(http.MethodGet, route, "", c.hdr...)
						if r.StatusCode != c.status {
							t.Fatalf("GET %s = %d %s; want %d", route, r.StatusCode, r.body, c.status)
						}
						if c.status != 200 && (r.Header.Get("X-Sessiond-Subject") != "" || strings.Contains(r.body, "alice")) {
							t.Errorf("refused answer names the subject: %v %q", r.Header, r.body)
						}
					})
				}
			}
		})
	}
}
