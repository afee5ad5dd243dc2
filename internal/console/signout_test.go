package console_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/sessiond/sessiond/internal/console"
)

// TestConsole_SignOutTouchesOnlyItsCookie: every way a console session
// ends in the browser (signing out, revoking one's own key, a request after
// the key was revoked elsewhere) expires the console's cookie and nothing
// else. httpsession's logout sends Clear-Site-Data "cookies", which a
// browser applies to every cookie of the registrable domain (the apps'
// sessions under it, left live on the server), and expires the default
// refresh cookie, which an app on the same host may use.
func TestConsole_SignOutTouchesOnlyItsCookie(t *testing.T) {
	for _, tc := range []struct {
		name string
		end  func(f *fixture, c *http.Client) *http.Response
	}{
		{"sign out", func(f *fixture, c *http.Client) *http.Response {
			resp, _ := f.do(c, "POST", "/console/signout", url.Values{}, "same-origin")
			return resp
		}},
		{"revoke own key", func(f *fixture, c *http.Client) *http.Response {
			resp, _ := f.do(c, "POST", "/console/keys/revoke", url.Values{"id": {f.adminK.ID}, "confirm": {console.Confirmation}}, "same-origin")
			return resp
		}},
		{"key revoked elsewhere", func(f *fixture, c *http.Client) *http.Response {
			if err := f.keys.Revoke(t.Context(), f.adminK.ID); err != nil {
				t.Fatal(err)
			}
			f.clock.Advance(2 * time.Second) // past the key cache
			resp, _ := f.do(c, "GET", "/console/keys", nil, "same-origin")
			return resp
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			c := f.signedIn()
			resp := tc.end(f, c)
			if resp.StatusCode != http.StatusSeeOther {
				t.Fatalf("status %d; want 303 to the sign-in page", resp.StatusCode)
			}
			if got := resp.Header.Values("Clear-Site-Data"); len(got) != 0 {
				t.Errorf("Clear-Site-Data = %q; want none (it reaches the cookies of the whole registrable domain)", got)
			}
			f.wantConsoleCookieGone(c, resp)
		})
	}
}

// wantConsoleCookieGone checks that resp expired the console's cookie and
// set no other, and that browser c no longer holds it.
func (f *fixture) wantConsoleCookieGone(c *http.Client, resp *http.Response) {
	f.t.Helper()
	cookies := resp.Header.Values("Set-Cookie")
	if len(cookies) != 1 || !strings.HasPrefix(cookies[0], console.CookieName+"=;") || !strings.Contains(cookies[0], "Max-Age=0") {
		f.t.Errorf("Set-Cookie = %q; want only the console cookie, expired", cookies)
	}
	u, _ := url.Parse(f.srv.URL)
	for _, ck := range c.Jar.Cookies(u) {
		if ck.Name == console.CookieName {
			f.t.Errorf("the console cookie is still in the jar")
		}
	}
}
