package httpapi_test

import (
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/internal/apikey"
	"github.com/sessiond/sessiond/internal/httpapi"
	"github.com/sessiond/sessiond/internal/ratelimit"
)

// TestAPI_RateLimits: each limit answers 429 too_many_requests with
// Retry-After once its burst is spent, applies to its own key only, and
// lets requests through again after Retry-After.
func TestAPI_RateLimits(t *testing.T) {
	t.Parallel()
	verify := func(e *env, key sessiond.Secret) *response {
		return e.do(http.MethodPost, "/v1/sessions/verify", "application/json", []byte(`{"access_token":"x"}`),
			map[string]string{"Authorization": "Bearer " + string(key)})
	}
	want429 := func(t *testing.T, what string, r *response) {
		t.Helper()
		wantProblem(t, what, r, http.StatusTooManyRequests, "too_many_requests", "")
		if r.header.Get("Retry-After") != "2" {
			t.Errorf("%s: Retry-After = %q; want 2", what, r.header.Get("Retry-After"))
		}
	}
	slow := ratelimit.Options{Rate: 0.5, Burst: 3}

	t.Run("auth failures per address", func(t *testing.T) {
		e := newEnv(t, sessiond.StrategyHybrid, func(o *httpapi.Options) { o.RateLimits.AuthFailures = slow })
		bad := sessiond.Secret(strings.Repeat("b", 40))
		for i := range 3 {
			if r := verify(e, bad); r.status != http.StatusUnauthorized {
				t.Fatalf("bad key %d = %d; want 401", i+1, r.status)
			}
		}
		want429(t, "fourth bad key", verify(e, bad))
		r := e.do(http.MethodPost, "/oauth2/introspect", "application/x-www-form-urlencoded", []byte("token=x"),
			map[string]string{"Authorization": "Bearer " + string(bad)})
		if r.status != http.StatusTooManyRequests || !strings.Contains(string(r.body), `"error":"too_many_requests"`) {
			t.Errorf("/oauth2 with a bad key over the limit = %d %s; want 429 in RFC 6749 form", r.status, r.body)
		}
		if r := verify(e, apiKey); r.status != http.StatusUnauthorized || !strings.Contains(string(r.body), "token_invalid") {
			t.Errorf("a valid key from the same address = %d %s; want it served", r.status, r.body)
		}
		e.clock.Advance(2 * time.Second)
		if r := verify(e, bad); r.status != http.StatusUnauthorized {
			t.Errorf("after Retry-After: %d; want 401 again", r.status)
		}
	})

	t.Run("per API key", func(t *testing.T) {
		e := newEnv(t, sessiond.StrategyHybrid, func(o *httpapi.Options) { o.RateLimits.PerAPIKey = slow })
		for range 3 {
			verify(e, apiKey)
		}
		want429(t, "verify over the key's rate", verify(e, apiKey))
		wantProblem(t, "create over the key's rate", e.postJSON("/v1/sessions", `{"subject":"u"}`), http.StatusTooManyRequests, "too_many_requests", "")
		if r := verify(e, scopedKey(apikey.ScopeVerify)); r.status == http.StatusTooManyRequests {
			t.Error("another key is limited by the first one's requests")
		}
		if r := e.do(http.MethodGet, "/v1/subjects/u/sessions", "", nil, nil); r.status != http.StatusOK {
			t.Errorf("an unlimited route = %d; want 200", r.status)
		}
	})

	t.Run("per client address", func(t *testing.T) {
		e := newEnv(t, sessiond.StrategyHybrid, func(o *httpapi.Options) { o.RateLimits.PerClientIP = slow })
		verify(e, apiKey)
		verify(e, scopedKey(apikey.ScopeVerify))
		e.postJSON("/v1/sessions/refresh", `{"refresh_token":"x"}`)
		want429(t, "a fourth request from one address", verify(e, scopedKey(apikey.ScopeVerify)))
	})
}

// TestAPI_RateLimits_DBSC: the browser gateway's DBSC routes, which verify
// a signature per request, are limited per browser address (as the proxy
// reports it) at per_client_ip, with 429 and Retry-After, as the other
// browser routes are.
func TestAPI_RateLimits_DBSC(t *testing.T) {
	t.Parallel()
	var served atomic.Int32
	e := newEnv(t, sessiond.StrategyHybrid, func(o *httpapi.Options) {
		o.RateLimits.PerClientIP = ratelimit.Options{Rate: 0.5, Burst: 3}
		o.Browser = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { served.Add(1) })
		o.BrowserPrefix = "/sessiond"
		o.BrowserClientIP = func(r *http.Request) string { return r.Header.Get("X-Real-IP") }
	})
	// The browser routes are not in openapi.json: a plain client.
	do := func(method, path, ip string) *response {
		t.Helper()
		req, _ := http.NewRequestWithContext(t.Context(), method, e.srv.URL+path, nil)
		req.Header.Set("X-Real-IP", ip)
		resp, err := e.srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return &response{status: resp.StatusCode, header: resp.Header, body: b}
	}
	for route, ip := range map[string]string{"/sessiond/dbsc/register": "192.0.2.1", "/sessiond/dbsc/refresh": "192.0.2.2"} {
		t.Run(route, func(t *testing.T) {
			for i := range 3 {
				if r := do(http.MethodPost, route, ip); r.status != http.StatusOK {
					t.Fatalf("request %d = %d; want it served", i+1, r.status)
				}
			}
			before := served.Load()
			r := do(http.MethodPost, route, ip)
			wantProblem(t, "fourth request", r, http.StatusTooManyRequests, "too_many_requests", "")
			if r.header.Get("Retry-After") != "2" || served.Load() != before {
				t.Errorf("over the limit: Retry-After %q, handler ran %d times; want 2 and 0", r.header.Get("Retry-After"), served.Load()-before)
			}
			if r := do(http.MethodPost, route, "198.51.100.7"); r.status != http.StatusOK {
				t.Errorf("another address = %d; want it served", r.status)
			}
		})
	}
	// One bucket per address for all the browser routes
	// (TestBrowserRoutes_PerClientIP).
	if r := do(http.MethodGet, "/sessiond/check", "192.0.2.1"); r.status != http.StatusTooManyRequests {
		t.Errorf("check from an address past its rate = %d; want 429", r.status)
	}
	e.clock.Advance(2 * time.Second)
	if r := do(http.MethodPost, "/sessiond/dbsc/register", "192.0.2.1"); r.status != http.StatusOK {
		t.Errorf("after Retry-After = %d; want it served again", r.status)
	}
}
