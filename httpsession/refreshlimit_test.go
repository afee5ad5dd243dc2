package httpsession_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/httpsession"
)

// TestRefreshHandler_RateLimited: past the Manager's limit on failed
// refreshes of one subject, the refresh endpoint answers 429 with
// Retry-After instead of 401, and expires the cookies as for any failed
// refresh.
func TestRefreshHandler_RateLimited(t *testing.T) {
	e := newEnv(t, envOptions{manager: func(o *sessiond.Options) {
		o.RefreshFailures = sessiond.FailureLimit{Max: 2, Window: time.Minute}
	}})
	b := e.browser(t)
	b.login("alice")
	rt := b.cookie(httpsession.DefaultRefreshPath, httpsession.DefaultRefreshCookieName)
	sid := func() sessiond.SessionID {
		list, err := e.m.List(t.Context(), "alice")
		if err != nil || len(list) != 1 {
			t.Fatalf("List(alice) = %v, %v; want one session", list, err)
		}
		return list[0].ID
	}()
	if err := e.m.Revoke(t.Context(), sid, sessiond.ReasonAdmin); err != nil {
		t.Fatal(err)
	}
	for i, want := range []int{http.StatusUnauthorized, http.StatusUnauthorized, http.StatusTooManyRequests} {
		b.setCookie(httpsession.DefaultRefreshCookieName, rt) // the dead token, presented again
		resp := b.do(http.MethodPost, httpsession.DefaultRefreshPath, nil, "Sec-Fetch-Site", "same-origin")
		if resp.StatusCode != want {
			t.Fatalf("failed refresh #%d = %d; want %d", i+1, resp.StatusCode, want)
		}
		if want == http.StatusTooManyRequests {
			if got := resp.Header.Get("Retry-After"); got != "60" {
				t.Errorf("Retry-After = %q; want 60", got)
			}
			expired := false
			for _, c := range resp.Cookies() {
				if c.Name == httpsession.DefaultRefreshCookieName && c.MaxAge < 0 {
					expired = true
				}
			}
			if !expired {
				t.Errorf("a refused refresh did not expire the refresh cookie: Set-Cookie %q", resp.Header.Values("Set-Cookie"))
			}
		}
	}
}
