package httpapi_test

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/internal/httpapi"
)

// TestRequestLog_IPPrefixes: with events.ipv4_prefix / ipv6_prefix set,
// the request line's remote_addr is cut as events cut a client's address
// (a browser reaching the gateway directly is a person), and the port is
// dropped; without them the peer is logged as it is.
func TestRequestLog_IPPrefixes(t *testing.T) {
	for _, tc := range []struct {
		name   string
		p      sessiond.IPPrefixes
		remote string
		want   string
	}{
		{"no prefixes", sessiond.IPPrefixes{}, "198.51.100.77:51234", "198.51.100.77:51234"},
		{"IPv4 /24", sessiond.IPPrefixes{V4: 24, V6: 48}, "198.51.100.77:51234", "198.51.100.0"},
		{"IPv6 /48", sessiond.IPPrefixes{V4: 24, V6: 48}, "[2001:db8:1234:5678::9]:443", "2001:db8:1234::"},
		{"IPv4-mapped IPv6", sessiond.IPPrefixes{V4: 24, V6: 48}, "[::ffff:198.51.100.77]:80", "198.51.100.0"},
		{"v4 whole, port dropped", sessiond.IPPrefixes{V6: 48}, "198.51.100.77:51234", "198.51.100.77"},
		{"not an address", sessiond.IPPrefixes{V4: 24}, "pipe", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, sessiond.StrategyHybrid, func(o *httpapi.Options) { o.LogIPPrefixes = tc.p })
			r := httptest.NewRequest(http.MethodGet, "/healthz", nil)
			r.RemoteAddr = tc.remote
			e.handler.ServeHTTP(httptest.NewRecorder(), r)
			reqs := requestLines(e.logLines())
			if len(reqs) != 1 {
				t.Fatalf("%d request lines; want 1", len(reqs))
			}
			if got := reqs[0]["remote_addr"]; got != tc.want {
				t.Errorf("remote_addr = %q; want %q", got, tc.want)
			}
		})
	}
}
