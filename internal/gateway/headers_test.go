package gateway_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/sessiond/sessiond/httpsession"
	"github.com/sessiond/sessiond/internal/testenv"
)

// The exact values of the headers the gateway's answers carry: the
// RFC 6750 challenge of a 401 and no CORS grant to another origin.

const evilOrigin = "https://evil.example"

// wantChallenge is testenv.WantChallenge on a browser's response.
func wantChallenge(t *testing.T, op string, r response, want string) {
	t.Helper()
	testenv.WantChallenge(t, op, r.Response, want)
}

// TestHeaders_CheckChallenge: RFC 6750 §3.1: a check without any
// credential gets a bare Bearer challenge (no error code); one whose token
// is there but bad gets error="invalid_token".
func TestHeaders_CheckChallenge(t *testing.T) {
	e := newEnv(t, envOptions{})
	live, revoked, tampered := badTokens(t, e)
	cookie := func(v string) []string { return []string{"Cookie", httpsession.DefaultCookieName + "=" + v} }
	const (
		bare    = `Bearer`
		invalid = `Bearer error="invalid_token"`
	)
	for _, c := range []struct {
		name string
		path string
		hdr  []string
		want string
	}{
		{"no credentials", "/sessiond/check", nil, bare},
		{"another scheme only (Basic)", "/sessiond/check", []string{"Authorization", "Basic YTpi"}, bare},
		{"forged identity header only", "/sessiond/check", []string{"X-Sessiond-Subject", "alice"}, bare},
		{"empty session cookie", "/sessiond/check", cookie(""), bare},
		{"wrong-case __host- cookie", "/sessiond/check", []string{"Cookie", "__host-sessiond=" + string(live.AccessToken)}, bare},
		{"invalid bearer", "/sessiond/check", []string{"Authorization", "Bearer garbage"}, invalid},
		{"tampered bearer", "/sessiond/check", []string{"Authorization", "Bearer " + tampered}, invalid},
		{"revoked bearer", "/sessiond/check", []string{"Authorization", "Bearer " + string(revoked.AccessToken)}, invalid},
		{"empty bearer", "/sessiond/check", []string{"Authorization", "Bearer "}, invalid},
		{"two Authorization headers", "/sessiond/check", []string{"Authorization", "Bearer " + string(live.AccessToken), "Authorization", "Bearer x"}, invalid},
		{"tampered cookie", "/sessiond/check", cookie(tampered), invalid},
		{"revoked cookie", "/sessiond/check", cookie(string(revoked.AccessToken)), invalid},
		// NGINX auth_request: the navigation's 401 carries the challenge too.
		{"NGINX navigation without credentials", "/sessiond/check", []string{navigate, "navigate", "X-Original-URI", "/orders"}, bare},
		{"NGINX navigation with a revoked cookie", "/sessiond/check", append(cookie(string(revoked.AccessToken)), navigate, "navigate", "X-Original-URI", "/orders"), invalid},
		{"session, no credentials", "/sessiond/session", nil, bare},
		{"session, revoked cookie", "/sessiond/session", cookie(string(revoked.AccessToken)), invalid},
	} {
		t.Run(c.name, func(t *testing.T) {
			wantChallenge(t, "GET "+c.path, e.browser(t).do(http.MethodGet, c.path, "", c.hdr...), c.want)
		})
	}
	t.Run("refresh", func(t *testing.T) {
		wantChallenge(t, "POST /sessiond/refresh without a refresh cookie",
			e.browser(t).do(http.MethodPost, "/sessiond/refresh", ""), bare)
		wantChallenge(t, "POST /sessiond/refresh with an invalid refresh cookie",
			e.browser(t).do(http.MethodPost, "/sessiond/refresh", "", "Cookie", httpsession.DefaultRefreshCookieName+"=garbage"), invalid)
	})
	t.Run("expired access token", func(t *testing.T) {
		e := newEnv(t, envOptions{})
		iss := e.login(t, "carol")
		e.clock.Advance(accessTTL + time.Minute)
		wantChallenge(t, "check with an expired bearer",
			e.browser(t).do(http.MethodGet, "/sessiond/check", "", "Authorization", "Bearer "+string(iss.AccessToken)), invalid)
		wantChallenge(t, "check with an expired cookie (script)",
			e.loggedIn(t, iss).do(http.MethodGet, "/sessiond/check", ""), invalid)
	})
}

// TestHeaders_NoCORS: no gateway route grants another origin anything:
// not the check or session answers of a live session (which carry the
// identity), not the refresh, and no preflight.
func TestHeaders_NoCORS(t *testing.T) {
	e := newEnv(t, envOptions{})
	b := e.loggedIn(t, e.login(t, "alice"))
	fetchMeta := []string{"Origin", evilOrigin, "Sec-Fetch-Site", "cross-site", "Sec-Fetch-Mode", "cors"}
	originOnly := []string{"Origin", evilOrigin}
	for _, c := range []struct {
		method, path string
	}{
		{http.MethodGet, "/sessiond/check"},
		{http.MethodPost, "/sessiond/check"},
		{http.MethodGet, "/sessiond/session"},
		{http.MethodGet, "/sessiond/refresh"},
		{http.MethodPost, "/sessiond/refresh"},
		{http.MethodPost, "/sessiond/logout"},
	} {
		for _, hdr := range [][]string{fetchMeta, originOnly} {
			r := b.do(c.method, c.path, "", hdr...)
			testenv.NoCORS(t, fmt.Sprintf("%s %s %q", c.method, c.path, hdr), r.Header)
		}
	}
	// The check and session answers above were the live session's.
	if r := b.do(http.MethodGet, "/sessiond/check", "", fetchMeta...); r.StatusCode != http.StatusOK || r.Header.Get("X-Sessiond-Subject") != "alice" {
		t.Errorf("cross-origin check = %d subject %q; want 200 alice", r.StatusCode, r.Header.Get("X-Sessiond-Subject"))
	}
	if r := b.do(http.MethodGet, "/sessiond/session", "", fetchMeta...); r.StatusCode != http.StatusOK || !strings.Contains(r.body, `"alice"`) {
		t.Errorf("cross-origin session = %d %q; want 200 alice", r.StatusCode, r.body)
	}
	// An anonymous answer is no different.
	testenv.NoCORS(t, "GET /sessiond/check without a session", e.browser(t).do(http.MethodGet, "/sessiond/check", "", fetchMeta...).Header)

	for _, path := range []string{"/sessiond/check", "/sessiond/refresh", "/sessiond/session", "/sessiond/logout", "/sessiond/login"} {
		for _, method := range []string{http.MethodPost, http.MethodGet} {
			r := b.do(http.MethodOptions, path, "", "Origin", evilOrigin, "Sec-Fetch-Site", "cross-site", "Sec-Fetch-Mode", "cors",
				"Access-Control-Request-Method", method, "Access-Control-Request-Headers", "authorization, content-type")
			testenv.NoCORS(t, "OPTIONS "+path+" (preflight for "+method+")", r.Header)
		}
	}
	if r := b.do(http.MethodGet, "/sessiond/check", ""); r.StatusCode != http.StatusOK {
		t.Errorf("check after the cross-origin requests = %d; want 200", r.StatusCode)
	}
}
