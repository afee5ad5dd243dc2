package gateway_test

import (
	"context"
	"errors"
	"html"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/sessiond/sessiond/internal/gateway"
)

// TestGateway_LoginCSRFThroughRefreshPage: the login-code route refuses a
// cross-site navigation (Sec-Fetch-Site) to stop login CSRF, and the GET
// refresh page, which a cross-site link may open, navigates to its
// return_to from this origin. Mallory creates a code for her own session
// and sends Alice a link to
// /sessiond/refresh?return_to=/sessiond/login?code=<mallory's code>: were
// the page to take it, the code's request would arrive same-origin and
// Alice's browser would be logged in as Mallory. The page refuses any
// return_to into the gateway's routes.
func TestGateway_LoginCSRFThroughRefreshPage(t *testing.T) {
	e := newEnv(t, envOptions{})
	_, malloryURL := newCode(t, e, e.login(t, "mallory"), "/")
	alice := e.loggedIn(t, e.login(t, "alice"))
	r := alice.do(http.MethodGet, "/sessiond/refresh?return_to="+url.QueryEscape(malloryURL), "",
		"Sec-Fetch-Site", "cross-site", navigate, "navigate", "Accept", "text/html")
	if r.StatusCode == http.StatusOK {
		// What the page's script would do: a same-origin POST of the
		// refresh, then location.replace(data-to), from this origin.
		if m := regexp.MustCompile(`data-to="([^"]*)"`).FindStringSubmatch(r.body); m != nil {
			alice.do(http.MethodPost, "/sessiond/refresh", "", "Sec-Fetch-Site", "same-origin", "Accept", "application/json")
			alice.do(http.MethodGet, html.UnescapeString(m[1]), "", "Sec-Fetch-Site", "same-origin", navigate, "navigate")
		}
		t.Errorf("the refresh page took return_to %q, Mallory's login URL (200)", malloryURL)
	} else if r.StatusCode != http.StatusBadRequest || !strings.Contains(r.body, "invalid_return_to") {
		t.Errorf("refresh page with return_to into the gateway = %d %s; want 400 invalid_return_to", r.StatusCode, r.body)
	}
	if r := alice.do(http.MethodGet, "/sessiond/check", ""); r.Header.Get("X-Sessiond-Subject") != "alice" {
		t.Errorf("after the link Alice's browser is %q (check = %d); want still alice", r.Header.Get("X-Sessiond-Subject"), r.StatusCode)
	}
}

// Every way the gateway takes a return_to refuses one into its own routes:
// the refresh page, logout, a login code, and check's redirect (which
// then sends the browser to the login page without it).
func TestGateway_ReturnToNotIntoGateway(t *testing.T) {
	e := newEnv(t, envOptions{})
	into := []string{
		"/sessiond/login?code=sdlc_x",
		"/sessiond",
		"/sessiond/",
		"/sessiond/refresh",
		"/%73essiond/login",
		"/%2573essiond/login",
		"/sessiond//login",
		"/SESSIOND/Login",
		"/x/../sessiond/login",
		"/./sessiond/login",
		"/sessiond;v=1/login",
		"/sessiond%2Flogin",
	}
	for _, s := range into {
		if got, err := e.g.ReturnTo(s); !errors.Is(err, gateway.ErrBadReturnTo) {
			t.Errorf("ReturnTo(%q) = %q, %v; want ErrBadReturnTo", s, got, err)
		}
	}
	for _, s := range []string{"/", "/orders?next=/sessiond/login", "/sessiondx/login", "/app/sessiond/login", "/p#/sessiond/login"} {
		if got, err := e.g.ReturnTo(s); err != nil || got != s {
			t.Errorf("ReturnTo(%q) = %q, %v; want it unchanged", s, got, err)
		}
	}
	{
		g := mustGateway(t, e, loginPage, "/auth")
		if _, err := g.ReturnTo("/AUTH/login"); !errors.Is(err, gateway.ErrBadReturnTo) {
			t.Errorf("with prefix /auth, ReturnTo(/AUTH/login) = %v; want ErrBadReturnTo", err)
		}
		if _, err := g.ReturnTo("/sessiond/login"); err != nil {
			t.Errorf("with prefix /auth, ReturnTo(/sessiond/login) = %v; want it allowed", err)
		}
	}

	bad := url.QueryEscape("/sessiond/login?code=sdlc_x")
	if _, _, err := e.g.NewLoginCode(context.Background(), e.login(t, "alice"), "/sessiond/login?code=sdlc_x"); !errors.Is(err, gateway.ErrBadReturnTo) {
		t.Errorf("NewLoginCode with return_to into the gateway = %v; want ErrBadReturnTo", err)
	}
	alice := e.loggedIn(t, e.login(t, "alice"))
	if r := alice.do(http.MethodPost, "/sessiond/logout?return_to="+bad, "", "Sec-Fetch-Site", "same-origin"); r.StatusCode != http.StatusBadRequest {
		t.Errorf("logout with return_to into the gateway = %d; want 400", r.StatusCode)
	}
	if r := alice.do(http.MethodGet, "/sessiond/check", ""); r.StatusCode != http.StatusOK {
		t.Errorf("the refused logout ended the session: check = %d", r.StatusCode)
	}
	anon := e.browser(t)
	r := anon.do(http.MethodGet, "/sessiond/check", "", "X-Forwarded-Uri", "/sessiond/login?code=sdlc_x", navigate, "navigate", "Accept", "text/html")
	if loc := r.Header.Get("Location"); strings.Contains(loc, "sdlc_x") || !strings.HasPrefix(loc, loginPage) {
		t.Errorf("check's redirect for a page into the gateway = %q; want the login page without it", loc)
	}
}
