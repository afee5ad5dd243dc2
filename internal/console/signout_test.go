package console_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/sessiond/sessiond/internal/console"
)

// TestConsole_SignOutTouchesOnlyItsCookie: signing out of the console
// expires the console's cookie and nothing else. httpsession's logout
// sends Clear-Site-Data "cookies", which a browser applies to every
// cookie of the registrable domain (the apps' sessions under it, left live
// on the server), and expires the default refresh cookie, which an app on
// the same host may use.
func TestConsole_SignOutTouchesOnlyItsCookie(t *testing.T) {
	f := newFixture(t)
	c := f.signedIn()
	resp, _ := f.do(c, "POST", "/console/signout", url.Values{}, "same-origin")
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("sign out = %d; want 303", resp.StatusCode)
	}
	if got := resp.Header.Values("Clear-Site-Data"); len(got) != 0 {
		t.Errorf("Clear-Site-Data = %q; want none (it reaches the cookies of the whole registrable domain)", got)
	}
	cookies := resp.Header.Values("Set-Cookie")
	if len(cookies) != 1 || !strings.HasPrefix(cookies[0], console.CookieName+"=;") || !strings.Contains(cookies[0], "Max-Age=0") {
		t.Errorf("Set-Cookie = %q; want only the console cookie, expired", cookies)
	}
	u, _ := url.Parse(f.srv.URL)
	for _, ck := range c.Jar.Cookies(u) {
		if ck.Name == console.CookieName {
			t.Errorf("the console cookie is still in the jar after sign-out")
		}
	}
}
