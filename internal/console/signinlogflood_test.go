package console_test

import (
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/sessiond/sessiond/internal/console"
	"github.com/sessiond/sessiond/internal/ratelimit"
	"github.com/sessiond/sessiond/internal/testenv"
)

// TestConsole_SignInLimitWarnsOncePerMinute: a client that keeps posting
// sign-ins past the limit cannot write a WARN line per request (a flood
// that buries the lines an operator must act on): one line per address a
// minute, the next one saying how many refusals it folded (repeated), the
// others at debug.
func TestConsole_SignInLimitWarnsOncePerMinute(t *testing.T) {
	logs := &testenv.SyncBuffer{}
	f := newFixtureWith(t, func(f *fixture, o *console.Options) {
		o.SignInLimit = ratelimit.New(ratelimit.Options{Rate: 1.0 / 3600, Burst: 1, Clock: f.clock})
		o.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	})
	c := f.browser()
	post := func(want int) {
		t.Helper()
		if resp, _ := f.do(c, "POST", "/console/signin", url.Values{"api_key": {"sdak_wrong"}}, "same-origin"); resp.StatusCode != want {
			t.Fatalf("sign-in = %d; want %d", resp.StatusCode, want)
		}
	}
	warns := func() []string {
		var out []string
		for _, l := range strings.Split(logs.String(), "\n") {
			if strings.Contains(l, "level=WARN") && strings.Contains(l, "sign-in rate limited") {
				out = append(out, l)
			}
		}
		return out
	}
	post(http.StatusUnauthorized)
	for range 10 {
		post(http.StatusTooManyRequests)
	}
	if got := warns(); len(got) != 1 {
		t.Fatalf("10 refused sign-ins logged %d WARN lines; want 1:\n%s", len(got), strings.Join(got, "\n"))
	}
	f.clock.Advance(61 * time.Second)
	post(http.StatusTooManyRequests)
	got := warns()
	if len(got) != 2 {
		t.Fatalf("a refusal a minute later: %d WARN lines; want 2:\n%s", len(got), strings.Join(got, "\n"))
	}
	if !strings.Contains(got[1], "repeated=9") {
		t.Errorf("second line %q; want repeated=9 (the refusals folded since the first)", got[1])
	}
}
