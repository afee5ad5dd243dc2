package httpsession_test

import (
	"context"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/httpsession"
	"github.com/sessiond/sessiond/memstore"
	"github.com/sessiond/sessiond/opaquetoken"
)

// lookupCounter is a Store that counts token lookups (one per refresh
// cookie tried).
type lookupCounter struct {
	sessiond.Store
	lookups atomic.Int64
}

func (c *lookupCounter) Lookup(ctx context.Context, h sessiond.TokenHash) (sessiond.Token, *sessiond.Session, error) {
	c.lookups.Add(1)
	return c.Store.Lookup(ctx, h)
}

// A request stuffed with refresh cookies must not make a store read for
// each: Refresh tries the first few (enough for the planted-cookie
// defence) and no more, and the browser's own among those still works.
func TestSessions_Refresh_ManyRefreshCookies(t *testing.T) {
	const planted, maxTried = 200, 4
	cases := []struct {
		name string
		at   int // index of the victim's own cookie among the planted ones; -1: absent
		want int
	}{
		{"the browser's own second", 1, http.StatusOK},
		{"the browser's own last of the tried", maxTried - 1, http.StatusOK},
		{"the browser's own absent", -1, http.StatusUnauthorized},
		{"the browser's own past the cap", planted - 1, http.StatusUnauthorized},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			store := &lookupCounter{Store: memstore.New()}
			e := newEnv(t, envOptions{store: store})
			b := e.browser(t)
			b.login("alice")
			at := b.cookie("/", httpsession.DefaultCookieName)
			rt := b.cookie(httpsession.DefaultRefreshPath, httpsession.DefaultRefreshCookieName)
			e.clock.Advance(61 * time.Minute) // the access token expired: the JS client refreshes

			// Well-formed refresh tokens no session holds: each one tried
			// is a store lookup.
			values := make([]string, planted)
			for i := range values {
				tok, _, err := opaquetoken.Codec{}.New(sessiond.KindRefresh)
				if err != nil {
					t.Fatal(err)
				}
				values[i] = string(tok)
			}
			if tc.at >= 0 {
				values[tc.at] = rt
			}
			var cookie strings.Builder
			for _, v := range values {
				cookie.WriteString(httpsession.DefaultRefreshCookieName + "=" + v + "; ")
			}
			cookie.WriteString(httpsession.DefaultCookieName + "=" + at)

			store.lookups.Store(0)
			resp := e.rawDo(t, http.MethodPost, httpsession.DefaultRefreshPath,
				"Sec-Fetch-Site", "same-origin", "Cookie", cookie.String())
			if resp.StatusCode != tc.want {
				t.Errorf("refresh with %d refresh cookies = %d; want %d", planted, resp.StatusCode, tc.want)
			}
			if n := store.lookups.Load(); n > maxTried {
				t.Errorf("refresh with %d refresh cookies made %d store lookups; want at most %d", planted, n, maxTried)
			}
		})
	}
}
