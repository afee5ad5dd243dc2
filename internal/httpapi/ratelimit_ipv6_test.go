package httpapi_test

import (
	"bytes"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/internal/httpapi"
	"github.com/sessiond/sessiond/internal/ratelimit"
)

// probeVerify sends POST /v1/sessions/verify straight to the handler from
// remote (host:port), with key as the bearer API key.
func probeVerify(e *env, remote string, key sessiond.Secret) int {
	req := httptest.NewRequest(http.MethodPost, "/v1/sessions/verify", bytes.NewReader([]byte(`{"access_token":"x"}`)))
	req.RemoteAddr = remote
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+string(key))
	rec := httptest.NewRecorder()
	e.handler.ServeHTTP(rec, req)
	return rec.Code
}

// TestRateLimit_AuthFailuresByIPv6Network: an unauthenticated client that
// owns one IPv6 /64 (every residential or cloud IPv6 customer does) sends
// each failed API-key attempt from a new address in it. Keyed by the full
// address, the burst of 3 never ran out; keyed by the /64, it does.
func TestRateLimit_AuthFailuresByIPv6Network(t *testing.T) {
	e := newEnv(t, sessiond.StrategyHybrid, func(o *httpapi.Options) {
		o.RateLimits.AuthFailures = ratelimit.Options{Rate: 0.5, Burst: 3}
	})
	bad := sessiond.Secret(strings.Repeat("b", 40))
	// Control: one address is limited after its burst.
	for range 3 {
		probeVerify(e, "[2001:db8:1:2::1]:40000", bad)
	}
	if got := probeVerify(e, "[2001:db8:1:2::1]:40000", bad); got != http.StatusTooManyRequests {
		t.Fatalf("control: fourth bad key from one address = %d; want 429", got)
	}
	// Attack: 50 attempts, each from a new address of the same /64.
	served := 0
	for i := range 50 {
		if probeVerify(e, fmt.Sprintf("[2001:db8:1:2::%x]:40000", 0x100+i), bad) == http.StatusUnauthorized {
			served++
		}
	}
	if served > 3 {
		t.Errorf("%d of 50 bad-key attempts from one IPv6 /64 were checked (401), none limited; want at most the burst (3)", served)
	}
}

// TestRateLimit_PerClientIPByIPv6Network: the same for per_client_ip.
func TestRateLimit_PerClientIPByIPv6Network(t *testing.T) {
	e := newEnv(t, sessiond.StrategyHybrid, func(o *httpapi.Options) {
		o.RateLimits.PerClientIP = ratelimit.Options{Rate: 0.5, Burst: 3}
	})
	served := 0
	for i := range 50 {
		if probeVerify(e, fmt.Sprintf("[2001:db8:1:2::%x]:40000", 0x100+i), apiKey) != http.StatusTooManyRequests {
			served++
		}
	}
	if served > 3 {
		t.Errorf("%d of 50 requests from one IPv6 /64 served; want at most the burst (3)", served)
	}
}
