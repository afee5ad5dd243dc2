package console_test

import (
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/internal/console"
	"github.com/sessiond/sessiond/internal/ratelimit"
	"github.com/sessiond/sessiond/internal/testenv"
)

// TestConsole_SignInLimitLogIPPrefixes: the line a refused sign-in logs
// cuts the client's address as events cut theirs when the operator set
// events.ipv4_prefix / ipv6_prefix, and keeps it whole otherwise.
func TestConsole_SignInLimitLogIPPrefixes(t *testing.T) {
	for _, tc := range []struct {
		name string
		p    sessiond.IPPrefixes
		want string
	}{
		{"whole", sessiond.IPPrefixes{}, "client_ip=127.0.0.1"},
		{"cut", sessiond.IPPrefixes{V4: 8, V6: 48}, "client_ip=127.0.0.0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			logs := &testenv.SyncBuffer{}
			f := newFixtureWith(t, func(f *fixture, o *console.Options) {
				o.SignInLimit = ratelimit.New(ratelimit.Options{Rate: 1.0 / 60, Burst: 1, Clock: f.clock})
				o.LogIPPrefixes = tc.p
				o.Logger = slog.New(slog.NewTextHandler(logs, nil))
			})
			c := f.browser()
			for i, want := range []int{http.StatusUnauthorized, http.StatusTooManyRequests} {
				if resp, _ := f.do(c, "POST", "/console/signin", url.Values{"api_key": {"sdak_wrong"}}, "same-origin"); resp.StatusCode != want {
					t.Fatalf("attempt %d: %d; want %d", i+1, resp.StatusCode, want)
				}
			}
			var line string
			for _, l := range strings.Split(logs.String(), "\n") {
				if strings.Contains(l, "sign-in rate limited") {
					line = l
				}
			}
			if !strings.Contains(line, tc.want+" ") && !strings.HasSuffix(line, tc.want) {
				t.Errorf("rate-limited line %q; want %s", line, tc.want)
			}
		})
	}
}
