package httpsession_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/httpsession"
	"github.com/sessiond/sessiond/internal/testenv"
)

// The exact values of the headers the middleware's answers carry: the
// RFC 6750 challenge of a 401, no CORS grant to another origin, the DBSC
// answers' framing and embedding rules, and a logout that a GET cannot
// trigger.

const evilOrigin = "https://evil.example"

// TestHeaders_WWWAuthenticate: RFC 6750 §3.1: a request without any
// credential gets a bare Bearer challenge (no error code); one whose token
// is there but bad gets error="invalid_token".
func TestHeaders_WWWAuthenticate(t *testing.T) {
	e := newEnv(t, envOptions{})
	b := e.browser(t)
	b.login("alice")
	name := httpsession.DefaultCookieName
	at := b.cookie("/", name)
	revoked := e.browser(t)
	revoked.login("bob")
	rat := revoked.cookie("/", name)
	sess, err := e.m.Verify(context.Background(), sessiond.Secret(rat), sessiond.Client{})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.m.Revoke(context.Background(), sess.ID, sessiond.ReasonAdmin); err != nil {
		t.Fatal(err)
	}
	const (
		bare    = `Bearer`
		invalid = `Bearer error="invalid_token"`
	)
	for _, c := range []struct {
		name   string
		method string
		path   string
		hdr    []string
		want   string
	}{
		{"no credentials", http.MethodGet, "/me", nil, bare},
		{"another scheme only (Basic)", http.MethodGet, "/me", []string{"Authorization", "Basic YTpi"}, bare},
		{"empty session cookie", http.MethodGet, "/me", []string{"Cookie", name + "="}, bare},
		{"cookie of another name", http.MethodGet, "/me", []string{"Cookie", "sessiond=" + at}, bare},
		{"invalid bearer", http.MethodGet, "/me", []string{"Authorization", "Bearer garbage"}, invalid},
		{"tampered bearer", http.MethodGet, "/me", []string{"Authorization", "Bearer " + at[:len(at)-2] + "xx"}, invalid},
		{"revoked bearer", http.MethodGet, "/me", []string{"Authorization", "Bearer " + rat}, invalid},
		{"empty bearer", http.MethodGet, "/me", []string{"Authorization", "Bearer "}, invalid},
		{"invalid cookie", http.MethodGet, "/me", []string{"Cookie", name + "=garbage"}, invalid},
		{"revoked cookie", http.MethodGet, "/me", []string{"Cookie", name + "=" + rat}, invalid},
		{"navigation without credentials, default handler", http.MethodGet, "/page", []string{"Sec-Fetch-Mode", "navigate", "Accept", "text/html"}, bare},
		{"refresh without a refresh cookie", http.MethodPost, httpsession.DefaultRefreshPath, nil, bare},
		{"refresh with an invalid refresh cookie", http.MethodPost, httpsession.DefaultRefreshPath,
			[]string{"Cookie", httpsession.DefaultRefreshCookieName + "=garbage"}, invalid},
	} {
		t.Run(c.name, func(t *testing.T) {
			testenv.WantChallenge(t, c.method+" "+c.path, e.rawDo(t, c.method, c.path, c.hdr...), c.want)
		})
	}
	t.Run("expired access token", func(t *testing.T) {
		e := newEnv(t, envOptions{})
		b := e.browser(t)
		b.login("carol")
		at := b.cookie("/", name)
		e.clock.Advance(61 * time.Minute)
		testenv.WantChallenge(t, "GET /me with an expired bearer", e.rawDo(t, http.MethodGet, "/me", "Authorization", "Bearer "+at), invalid)
		testenv.WantChallenge(t, "GET /me with an expired cookie", e.rawDo(t, http.MethodGet, "/me", "Cookie", name+"="+at), invalid)
	})
}

// TestHeaders_NoCORS: no route of the middleware grants another origin
// anything: neither a simple cross-origin request (with the user's
// cookies, as fetch(…, {credentials: "include"}) sends them) nor a
// preflight.
func TestHeaders_NoCORS(t *testing.T) {
	e := dbscEnv(t, sessiond.StrategyHybrid, httpsession.DBSCOptional)
	b, d := e.dbscBrowser(t, "ES256")
	register(t, b, d, "alice")
	if r := b.do(http.MethodGet, "/me", nil); r.StatusCode != http.StatusOK {
		t.Fatalf("GET /me = %d; want 200", r.StatusCode)
	}
	// A cross-origin fetch with credentials, and the same from a browser
	// without Fetch Metadata (Origin only).
	fetchMeta := []string{"Origin", evilOrigin, "Sec-Fetch-Site", "cross-site", "Sec-Fetch-Mode", "cors"}
	originOnly := []string{"Origin", evilOrigin}
	sid := `"` + d.Instructions.SessionIdentifier + `"`
	for _, c := range []struct {
		method, path string
		hdr          []string
	}{
		{http.MethodGet, "/me", nil},
		{http.MethodPost, "/me", nil},
		{http.MethodPost, httpsession.DefaultRefreshPath, nil},
		{http.MethodPost, "/logout", nil},
		{http.MethodPost, httpsession.DefaultDBSCRegistrationPath, nil},
		{http.MethodPost, httpsession.DefaultDBSCRefreshPath, nil},
		// The DBSC refresh's 403 carries a challenge for the session: not for
		// another origin to read.
		{http.MethodPost, httpsession.DefaultDBSCRefreshPath, []string{"Sec-Secure-Session-Id", sid}},
	} {
		for _, origin := range [][]string{fetchMeta, originOnly} {
			hdr := append(append([]string{}, origin...), c.hdr...)
			resp := b.do(c.method, c.path, nil, hdr...)
			testenv.NoCORS(t, fmt.Sprintf("%s %s %q", c.method, c.path, hdr), resp.Header)
		}
	}
	// The challenge answer really was produced, so its headers were checked.
	if r := b.do(http.MethodPost, httpsession.DefaultDBSCRefreshPath, nil, append(append([]string{}, fetchMeta...), "Sec-Secure-Session-Id", sid)...); r.StatusCode != http.StatusForbidden ||
		r.Header.Get(httpsession.HeaderSessionChallenge) == "" {
		t.Errorf("cross-origin DBSC refresh = %d with challenge %q; want 403 with a challenge", r.StatusCode, r.Header.Get(httpsession.HeaderSessionChallenge))
	}

	// Preflights: whatever the method asked for, no Allow-* comes back.
	for _, path := range []string{"/me", httpsession.DefaultRefreshPath, "/logout", "/login",
		httpsession.DefaultDBSCRegistrationPath, httpsession.DefaultDBSCRefreshPath} {
		for _, method := range []string{http.MethodPost, http.MethodDelete} {
			resp := b.do(http.MethodOptions, path, nil, "Origin", evilOrigin, "Sec-Fetch-Site", "cross-site", "Sec-Fetch-Mode", "cors",
				"Access-Control-Request-Method", method, "Access-Control-Request-Headers", "content-type, sec-secure-session-id")
			testenv.NoCORS(t, "OPTIONS "+path+" (preflight for "+method+")", resp.Header)
		}
	}
	if r := b.do(http.MethodGet, "/me", nil); r.StatusCode != http.StatusOK {
		t.Errorf("GET /me after the cross-origin requests = %d; want 200", r.StatusCode)
	}
}

// TestHeaders_DBSC: every DBSC answer, success or refusal, is not to be
// cached, framed, sniffed or embedded by another origin.
func TestHeaders_DBSC(t *testing.T) {
	for _, strategy := range []sessiond.Strategy{sessiond.StrategyDatabase, sessiond.StrategyHybrid} {
		t.Run(string(strategy), func(t *testing.T) {
			e := dbscEnv(t, strategy, httpsession.DBSCOptional)
			check := func(op string, resp *http.Response, status int) {
				t.Helper()
				if resp.StatusCode != status {
					t.Errorf("%s = %d; want %d", op, resp.StatusCode, status)
				}
				for h, want := range map[string]string{
					"X-Frame-Options":              "DENY",
					"Cross-Origin-Resource-Policy": "same-origin",
					"X-Content-Type-Options":       "nosniff",
					"Cache-Control":                "no-store",
				} {
					if got := resp.Header.Values(h); len(got) != 1 || got[0] != want {
						t.Errorf("%s: %s = %q; want exactly [%q]", op, h, got, want)
					}
				}
			}

			b, d := e.dbscBrowser(t, "ES256")
			check("registration", register(t, b, d, "alice"), http.StatusOK)

			resp, err := d.RefreshRequest("")
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			check("refresh without a proof (challenge)", resp, http.StatusForbidden)

			resp, _, err = d.Refresh()
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			check("refresh with a proof", resp, http.StatusOK)

			resp, err = d.RefreshRequest("not-a-proof")
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			check("refresh with a malformed proof", resp, http.StatusForbidden)

			// A signed-in browser whose registration proof is refused.
			b2, d2 := e.dbscBrowser(t, "ES256")
			b2.login("bob")
			resp, err = d2.PostRegistration(httpsession.DefaultDBSCRegistrationPath, "not-a-proof")
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			check("registration with a malformed proof", resp, http.StatusForbidden)

			// No session at all.
			_, d3 := e.dbscBrowser(t, "ES256")
			resp, err = d3.PostRegistration(httpsession.DefaultDBSCRegistrationPath, "not-a-proof")
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			check("registration without a session", resp, http.StatusUnauthorized)

			for _, path := range []string{httpsession.DefaultDBSCRegistrationPath, httpsession.DefaultDBSCRefreshPath} {
				resp := b.do(http.MethodGet, path, nil)
				check("GET "+path, resp, http.StatusMethodNotAllowed)
				if got := resp.Header.Get("Allow"); got != http.MethodPost {
					t.Errorf("GET %s: Allow = %q; want POST", path, got)
				}
			}

			// An ended session: {"continue": false}.
			if r := b.do(http.MethodPost, "/logout", nil); r.StatusCode != http.StatusNoContent {
				t.Fatalf("logout = %d", r.StatusCode)
			}
			resp, _, err = d.Refresh()
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			check("refresh of an ended session", resp, http.StatusOK)
			if d.Instructions.Continue == nil || *d.Instructions.Continue {
				t.Errorf("refresh of an ended session: instructions %+v; want continue false", d.Instructions)
			}
		})
	}
}

// TestHeaders_LogoutGET: the logout endpoint answers any method but POST
// with 405 and Allow: POST, and neither revokes the session nor touches
// the cookies: a link or an <img> on another site cannot log the user out.
func TestHeaders_LogoutGET(t *testing.T) {
	e := newEnv(t, envOptions{})
	b := e.browser(t)
	b.login("alice")
	name := e.s.CookieName()
	at := b.cookie("/", name)
	rt := b.cookie(httpsession.DefaultRefreshPath, e.s.RefreshCookieName())
	if at == "" || rt == "" {
		t.Fatalf("after login the jar holds %s=%q and %s=%q", name, at, e.s.RefreshCookieName(), rt)
	}
	sess, err := e.m.Verify(context.Background(), sessiond.Secret(at), sessiond.Client{})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name   string
		method string
		hdr    []string
	}{
		{"GET", http.MethodGet, nil},
		{"GET, same-origin navigation", http.MethodGet, []string{"Sec-Fetch-Site", "same-origin", "Sec-Fetch-Mode", "navigate", "Accept", "text/html"}},
		{"GET, cross-site link", http.MethodGet, []string{"Sec-Fetch-Site", "cross-site", "Sec-Fetch-Mode", "navigate", "Accept", "text/html"}},
		{"GET, cross-site <img>", http.MethodGet, []string{"Sec-Fetch-Site", "cross-site", "Sec-Fetch-Mode", "no-cors", "Sec-Fetch-Dest", "image"}},
		{"HEAD", http.MethodHead, nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			resp := b.do(c.method, "/logout", nil, c.hdr...)
			if resp.StatusCode != http.StatusMethodNotAllowed {
				t.Errorf("%s /logout = %d; want 405", c.method, resp.StatusCode)
			}
			if got := resp.Header.Values("Allow"); len(got) != 1 || got[0] != http.MethodPost {
				t.Errorf("%s /logout: Allow = %q; want [POST]", c.method, got)
			}
			if got := resp.Header.Values("Set-Cookie"); len(got) != 0 {
				t.Errorf("%s /logout set cookies: %q", c.method, got)
			}
			if got := resp.Header.Get("Clear-Site-Data"); got != "" {
				t.Errorf("%s /logout: Clear-Site-Data = %q; want none", c.method, got)
			}
		})
	}
	if got := b.cookie("/", name); got != at {
		t.Errorf("after the GETs the jar holds %s=%q; want the login's", name, got)
	}
	if _, err := e.m.Verify(context.Background(), sessiond.Secret(at), sessiond.Client{}); err != nil {
		t.Errorf("Verify after GET /logout = %v; want the session alive", err)
	}
	if _, err := e.m.Get(context.Background(), sess.ID); err != nil {
		t.Errorf("Get(session) after GET /logout = %v; want it stored", err)
	}
	if r := b.do(http.MethodGet, "/me", nil); r.StatusCode != http.StatusOK || !strings.HasPrefix(readBody(t, r), "alice ") {
		t.Errorf("GET /me after GET /logout = %d; want 200 as alice", r.StatusCode)
	}
	// The refresh token was not revoked either.
	if r := b.do(http.MethodPost, httpsession.DefaultRefreshPath, nil); r.StatusCode != http.StatusOK {
		t.Errorf("POST %s after GET /logout = %d; want 200", httpsession.DefaultRefreshPath, r.StatusCode)
	}
}
