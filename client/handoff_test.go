package client_test

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/apitype"
	"github.com/sessiond/sessiond/client"
	"github.com/sessiond/sessiond/internal/server"
	"github.com/sessiond/sessiond/internal/servertest"
)

const handoffKey = "sdak_clienthandoff_0123456789abcdefghijklmnopq"

// runGatewayServer runs the real server (server.Run, memory store) with
// the browser gateway on plain HTTP loopback and returns its URL.
func runGatewayServer(t *testing.T) string {
	t.Helper()
	return servertest.Run(t, server.Options{Config: servertest.GatewayConfig(t), APIKey: handoffKey, InsecureDev: true})
}

// TestClient_Handoff: the login handoff of POST /v1/sessions through the
// client against the real server: a login code the browser redeems once
// for cookies and a redirect to return_to, Set-Cookie values whose access
// cookie verifies, and the server's refusals reaching the caller as
// ErrInvalidArgument. No credential prints.
func TestClient_Handoff(t *testing.T) {
	t.Parallel()
	base := runGatewayServer(t)
	cl, err := client.New(base, handoffKey)
	if err != nil {
		t.Fatal(err)
	}
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

	t.Run("login code", func(t *testing.T) {
		tr, err := cl.CreateSession(t.Context(), client.CreateRequest{Subject: "alice",
			HandoffRequest: apitype.HandoffRequest{LoginCode: true, ReturnTo: "/orders?x=1"}})
		if err != nil {
			t.Fatal(err)
		}
		if tr.LoginCode == "" || !strings.HasPrefix(string(tr.LoginURL), "/sessiond/login?code=") || !strings.Contains(string(tr.LoginURL), string(tr.LoginCode)) {
			t.Fatalf("login_code %q, login_url %q; want a code and /sessiond/login?code=<code>", tr.LoginCode, tr.LoginURL)
		}
		if len(tr.SetCookie) != 0 {
			t.Errorf("set_cookie %q without set_cookie asked", tr.SetCookie)
		}
		printed := fmt.Sprintf("%v %+v %#v", tr, tr, tr)
		if strings.Contains(printed, string(tr.LoginCode)) {
			t.Errorf("a printed TokenResponse shows the login code: %s", printed)
		}
		for i := range 2 {
			res, err := noRedirect.Get(base + string(tr.LoginURL))
			if err != nil {
				t.Fatal(err)
			}
			res.Body.Close()
			loc, cookies := res.Header.Get("Location"), res.Cookies()
			switch {
			case i == 0 && (res.StatusCode != http.StatusSeeOther || loc != "/orders?x=1" || len(cookies) == 0 || cookies[0].Name != "sid"):
				t.Errorf("first redemption = %d, Location %q, cookies %v; want 303 to /orders?x=1 with sid", res.StatusCode, loc, cookies)
			case i == 1 && len(cookies) != 0:
				t.Errorf("second redemption of the code set cookies %v; a code is single use", cookies)
			}
		}
	})

	t.Run("set cookie", func(t *testing.T) {
		tr, err := cl.CreateSession(t.Context(), client.CreateRequest{Subject: "bob",
			HandoffRequest: apitype.HandoffRequest{SetCookie: true}})
		if err != nil {
			t.Fatal(err)
		}
		if len(tr.SetCookie) == 0 || tr.LoginCode != "" || tr.LoginURL != "" {
			t.Fatalf("set_cookie %d values, login_code %q; want Set-Cookie values only", len(tr.SetCookie), tr.LoginCode)
		}
		c, err := http.ParseSetCookie(string(tr.SetCookie[0]))
		if err != nil || c.Name != "sid" {
			t.Fatalf("first Set-Cookie value does not parse as sid: %v", err)
		}
		sess, err := cl.Verify(t.Context(), sessiond.Secret(c.Value), nil)
		if err != nil || sess.Subject != "bob" || sess.ID != tr.Session.ID {
			t.Errorf("Verify(access cookie) = %v, %v; want bob's session %s", sess, err, tr.Session.ID)
		}
		if printed := fmt.Sprintf("%v %+v", tr, tr); strings.Contains(printed, c.Value) {
			t.Errorf("a printed TokenResponse shows the cookie: %s", printed)
		}
	})

	t.Run("refused", func(t *testing.T) {
		for name, h := range map[string]apitype.HandoffRequest{
			"both":                      {LoginCode: true, SetCookie: true},
			"return_to another host":    {LoginCode: true, ReturnTo: "//evil.example/"},
			"return_to without a code":  {ReturnTo: "/orders"},
			"return_to with set_cookie": {SetCookie: true, ReturnTo: "/orders"},
		} {
			tr, err := cl.CreateSession(t.Context(), client.CreateRequest{Subject: "carol", HandoffRequest: h})
			if !errors.Is(err, sessiond.ErrInvalidArgument) {
				t.Errorf("%s: CreateSession = %v, %v; want ErrInvalidArgument", name, tr, err)
			}
		}
	})
}
