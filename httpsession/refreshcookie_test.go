package httpsession_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/httpsession"
)

// The refresh cookie is __Secure-, not __Host-: a sibling subdomain can
// plant one with Domain=<parent>, which the browser sends before the
// victim's own and which login cannot overwrite. A refresh must never
// replace the browser's session with another (a session swap: login CSRF),
// nor let a planted cookie log the victim out.
func TestSessions_Refresh_PlantedRefreshCookie(t *testing.T) {
	const garbage = "sdr_planted_0123456789abcdefghijklmnopqrstuvwxyz0123"
	cases := []struct {
		name   string
		cookie func(atAlice, rtAlice, rtMallory string) string
		want   int // 200: alice's session refreshed; 401: refused
	}{
		{"another session's cookie sent before the victim's own", func(atAlice, rtAlice, rtMallory string) string {
			return httpsession.DefaultRefreshCookieName + "=" + rtMallory + "; " +
				httpsession.DefaultRefreshCookieName + "=" + rtAlice + "; " +
				httpsession.DefaultCookieName + "=" + atAlice
		}, http.StatusOK},
		{"garbage sent before the victim's own", func(atAlice, rtAlice, _ string) string {
			return httpsession.DefaultRefreshCookieName + "=" + garbage + "; " +
				httpsession.DefaultRefreshCookieName + "=" + rtAlice + "; " +
				httpsession.DefaultCookieName + "=" + atAlice
		}, http.StatusOK},
		{"only another session's refresh cookie", func(atAlice, _, rtMallory string) string {
			return httpsession.DefaultRefreshCookieName + "=" + rtMallory + "; " +
				httpsession.DefaultCookieName + "=" + atAlice
		}, http.StatusUnauthorized},
		{"two refresh cookies and no access cookie to choose by", func(_, rtAlice, rtMallory string) string {
			return httpsession.DefaultRefreshCookieName + "=" + rtMallory + "; " +
				httpsession.DefaultRefreshCookieName + "=" + rtAlice
		}, http.StatusUnauthorized},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, envOptions{})
			b := e.browser(t)
			b.login("alice")
			atAlice := b.cookie("/", httpsession.DefaultCookieName)
			rtAlice := b.cookie(httpsession.DefaultRefreshPath, httpsession.DefaultRefreshCookieName)
			mallory, err := e.m.Create(context.Background(), "mallory", sessiond.CreateOptions{})
			if err != nil {
				t.Fatal(err)
			}
			e.clock.Advance(61 * time.Minute) // alice's access token expired: the JS client refreshes

			resp := e.rawDo(t, http.MethodPost, httpsession.DefaultRefreshPath,
				"Sec-Fetch-Site", "same-origin",
				"Cookie", tc.cookie(atAlice, rtAlice, string(mallory.RefreshToken)))
			if resp.StatusCode != tc.want {
				t.Fatalf("refresh = %d, want %d", resp.StatusCode, tc.want)
			}
			// Mallory's session was not rotated: her refresh token still works.
			if _, err := e.m.Refresh(context.Background(), mallory.RefreshToken, sessiond.Client{}); err != nil {
				t.Errorf("the planted refresh token was used: %v", err)
			}
			if tc.want != http.StatusOK {
				return
			}
			at := setCookies(t, resp)[httpsession.DefaultCookieName]
			if at == nil {
				t.Fatal("200 without an access cookie")
			}
			sess, err := e.m.Verify(context.Background(), sessiond.Secret(at.Value), sessiond.Client{})
			if err != nil {
				t.Fatal(err)
			}
			if sess.Subject != "alice" {
				t.Errorf("alice's browser refreshed into %s's session %s", sess.Subject, sess.ID)
			}
		})
	}
}

// A planted refresh cookie is tried first and fails against its owner's
// subject. Once that subject is over its refresh-failure limit the answer
// is 429, but it is the planter's limit: the victim's own cookie must still
// be tried, rather than the victim being answered 429 with every cookie
// expired on each refresh (logged out at will by a sibling subdomain).
func TestSessions_Refresh_PlantedCookieOfARateLimitedSubject(t *testing.T) {
	e := newEnv(t, envOptions{manager: func(o *sessiond.Options) {
		o.RefreshFailures = sessiond.FailureLimit{Max: 2, Window: time.Minute}
	}})
	rtName, atName := httpsession.DefaultRefreshCookieName, httpsession.DefaultCookieName

	// The attacker's own, genuine refresh token, of a session they end.
	mallory := e.browser(t)
	mallory.login("mallory")
	planted := mallory.cookie(httpsession.DefaultRefreshPath, rtName)
	if r := mallory.do(http.MethodPost, "/logout", nil, "Sec-Fetch-Site", "same-origin"); r.StatusCode != http.StatusNoContent {
		t.Fatalf("mallory logout = %d", r.StatusCode)
	}

	alice := e.browser(t)
	alice.login("alice")
	at := alice.cookie("/", atName)
	rt := alice.cookie(httpsession.DefaultRefreshPath, rtName)

	// The victim's browser: the planted Domain cookie first, then its own.
	victimRefresh := func() *http.Response {
		return e.rawDo(t, http.MethodPost, httpsession.DefaultRefreshPath,
			"Cookie", rtName+"="+planted+"; "+atName+"="+at+"; "+rtName+"="+rt,
			"Sec-Fetch-Site", "same-origin")
	}

	// Control: the documented defence works while mallory is under the limit.
	resp := victimRefresh()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("control: victim refresh with a planted cookie = %d; want 200", resp.StatusCode)
	}
	cs := setCookies(t, resp)
	at, rt = cs[atName].Value, cs[rtName].Value

	// Mallory pushes her own subject over the limit with her dead token.
	for range 3 {
		e.rawDo(t, http.MethodPost, httpsession.DefaultRefreshPath, "Cookie", rtName+"="+planted, "Sec-Fetch-Site", "same-origin")
	}

	resp = victimRefresh()
	if resp.StatusCode != http.StatusOK {
		expired := []string{}
		for _, c := range resp.Cookies() {
			if c.MaxAge < 0 {
				expired = append(expired, c.Name)
			}
		}
		t.Errorf("victim (alice) refresh with mallory's planted cookie after mallory hit her own rate limit = %d, expired cookies %v; "+
			"want 200 with alice's own refresh cookie (the planted one must not decide alice's refresh)", resp.StatusCode, expired)
	}
	if list, err := e.m.List(t.Context(), "alice"); err != nil || len(list) != 1 {
		t.Errorf("List(alice) = %d sessions, %v; want her one session", len(list), err)
	}
}
