package gateway_test

import (
	"context"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/httpsession"
)

// TestRefresh_KeyBoundCookieNotCounted: a DPoP-bound session's refresh
// cookie at POST /sessiond/refresh is refused as httpsession's
// ErrKeyProofRequired (a proof the request owes), which never counts
// against rate_limit.auth_failures, as docs/gateway.md says: it wrapped
// only sessiond.ErrInvalidToken, and counted.
func TestRefresh_KeyBoundCookieNotCounted(t *testing.T) {
	const jkt = "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"
	for _, policy := range []httpsession.DBSCPolicy{httpsession.DBSCOff, httpsession.DBSCOptional} {
		t.Run(string(policy), func(t *testing.T) {
			e := newEnv(t, envOptions{strategy: sessiond.StrategyHybrid, dbsc: policy})
			var spent atomic.Int32
			h := e.g.WithFailureLimit(func(*http.Request) (bool, time.Duration) {
				spent.Add(1)
				return true, 0
			})
			srv := httptest.NewUnstartedServer(h)
			srv.Config.ErrorLog = log.New(io.Discard, "", 0)
			srv.StartTLS()
			t.Cleanup(srv.Close)
			iss, err := e.m.Create(context.Background(), "dana", sessiond.CreateOptions{KeyThumbprint: jkt})
			if err != nil {
				t.Fatal(err)
			}
			req, _ := http.NewRequest(http.MethodPost, srv.URL+"/sessiond/refresh", nil)
			req.Header.Set("Sec-Fetch-Site", "same-origin")
			req.Header.Set("Cookie", httpsession.DefaultRefreshCookieName+"="+string(iss.RefreshToken))
			res, err := srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			res.Body.Close()
			if res.StatusCode != http.StatusUnauthorized {
				t.Fatalf("refresh = %d; want 401", res.StatusCode)
			}
			if n := spent.Load(); n != 0 {
				t.Errorf("a DPoP-bound session's refresh cookie spent the failure limit %d times; want 0 (docs/gateway.md: a DPoP-bound token never counts)", n)
			}
		})
	}
}
