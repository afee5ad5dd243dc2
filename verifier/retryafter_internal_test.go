package verifier

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/sessiond/sessiond/verifier/stream"
)

// A stream answered 429 or 503 with Retry-After (sessiond: a store outage
// while the API key is checked, too many failed authentications from this
// address; a proxy: its own limits, a node draining) is tried again no
// sooner than it says (delay-seconds or an IMF-fixdate, as the Node
// verifier reads it; capped at 5 minutes), plus at most the backoff's
// jitter, so that verifiers refused together do not all come back at the
// same instant; without one, or with one shorter than the backoff, on the
// backoff.
func TestFollow_HonoursRetryAfter(t *testing.T) {
	t.Parallel()
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name       string
		status     int
		retryAfter []string
		min, max   time.Duration // the first wait between connections
	}{
		{"503, seconds", http.StatusServiceUnavailable, []string{"120"}, 120 * time.Second, 120*time.Second + minBackoff},
		{"429, seconds", http.StatusTooManyRequests, []string{"7"}, 7 * time.Second, 7*time.Second + minBackoff},
		{"503, an HTTP date", http.StatusServiceUnavailable, []string{now.Add(90 * time.Second).Format(http.TimeFormat)}, 90 * time.Second, 90*time.Second + minBackoff},
		{"503, over the cap", http.StatusServiceUnavailable, []string{"86400"}, 5 * time.Minute, 5*time.Minute + minBackoff},
		{"503, past int64", http.StatusServiceUnavailable, []string{"99999999999999999999999"}, 5 * time.Minute, 5*time.Minute + minBackoff},
		{"503, shorter than the backoff", http.StatusServiceUnavailable, []string{"0"}, minBackoff / 2, minBackoff},
		{"503, a date in the past", http.StatusServiceUnavailable, []string{now.Add(-time.Hour).Format(http.TimeFormat)}, minBackoff / 2, minBackoff},
		{"503, not a delay", http.StatusServiceUnavailable, []string{"soon"}, minBackoff / 2, minBackoff},
		{"503, a signed number", http.StatusServiceUnavailable, []string{"+120"}, minBackoff / 2, minBackoff},
		{"503, an RFC 850 date", http.StatusServiceUnavailable, []string{"Tuesday, 01-Jan-30 00:01:30 GMT"}, minBackoff / 2, minBackoff},
		{"503, an asctime date", http.StatusServiceUnavailable, []string{"Tue Jan  1 00:01:30 2030"}, minBackoff / 2, minBackoff},
		{"503, a date in UTC, not GMT", http.StatusServiceUnavailable, []string{"Tue, 01 Jan 2030 00:01:30 UTC"}, minBackoff / 2, minBackoff},
		// IMF-fixdate to the letter, as the Node verifier's pattern reads it:
		// time.Parse alone also takes names in another case, runs of spaces
		// and a fraction of a second.
		{"503, an HTTP date in lower case", http.StatusServiceUnavailable, []string{"tue, 01 jan 2030 00:01:30 GMT"}, minBackoff / 2, minBackoff},
		{"503, an HTTP date with two spaces", http.StatusServiceUnavailable, []string{"Tue,  01 Jan 2030 00:01:30 GMT"}, minBackoff / 2, minBackoff},
		{"503, an HTTP date with a fraction of a second", http.StatusServiceUnavailable, []string{"Tue, 01 Jan 2030 00:01:30.5 GMT"}, minBackoff / 2, minBackoff},
		{"503, an HTTP date with a one-digit day", http.StatusServiceUnavailable, []string{"Tue, 1 Jan 2030 00:01:30 GMT"}, minBackoff / 2, minBackoff},
		{"503 without Retry-After", http.StatusServiceUnavailable, nil, minBackoff / 2, minBackoff},
		{"503, Retry-After twice", http.StatusServiceUnavailable, []string{"120", "120"}, minBackoff / 2, minBackoff},
		{"500 with Retry-After", http.StatusInternalServerError, []string{"120"}, minBackoff / 2, minBackoff},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			waits := firstWait(t, tc.status, tc.retryAfter, now, time.Hour) // retryCap: maxRetryAfter
			if len(waits) != 1 || waits[0] < tc.min || waits[0] > tc.max {
				t.Errorf("wait after a %d with Retry-After %q = %v; want one between %v and %v", tc.status, tc.retryAfter, waits, tc.min, tc.max)
			}
		})
	}
}

// TestFollow_RetryAfterWithinStaleness: a Retry-After longer than half of
// MaxStaleness holds the follower off for half of MaxStaleness only (at
// least the longest backoff): a proxy's maintenance page asking for five
// minutes must not keep a verifier stale, refusing every token, for
// minutes after the server is back.
func TestFollow_RetryAfterWithinStaleness(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name         string
		maxStaleness time.Duration
		retryAfter   string
		min, max     time.Duration
	}{
		{"the default staleness, a proxy's five minutes", DefaultMaxStaleness, "300", 15 * time.Second, 15*time.Second + minBackoff},
		{"the default staleness, sessiond's five seconds", DefaultMaxStaleness, "5", 5 * time.Second, 5*time.Second + minBackoff},
		{"a short staleness: still the longest backoff", 2 * time.Second, "300", maxBackoff, maxBackoff + minBackoff},
		{"an hour's staleness: at most maxRetryAfter", time.Hour, "86400", maxRetryAfter, maxRetryAfter + minBackoff},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			waits := firstWait(t, http.StatusServiceUnavailable, []string{tc.retryAfter}, time.Now(), tc.maxStaleness)
			if len(waits) != 1 || waits[0] < tc.min || waits[0] > tc.max {
				t.Errorf("wait after Retry-After %s with MaxStaleness %v = %v; want one between %v and %v", tc.retryAfter, tc.maxStaleness, waits, tc.min, tc.max)
			}
		})
	}
}

// firstWait follows a stream that answers status with the Retry-After
// headers given, on a verifier whose clock reads now and whose
// MaxStaleness is maxStaleness, and returns the wait the follower chose
// before its second connection (it stops there).
func firstWait(t *testing.T, status int, retryAfter []string, now time.Time, maxStaleness time.Duration) []time.Duration {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != stream.StreamPath {
			http.NotFound(w, r)
			return
		}
		w.Header()["Retry-After"] = retryAfter
		w.Header().Set("Content-Type", "application/problem+json")
		w.WriteHeader(status)
		io.WriteString(w, `{"code":"store_unavailable"}`)
	}))
	defer srv.Close()
	v := bare()
	v.clock.(interface{ Set(time.Time) }).Set(now)
	v.base, v.hc, v.stream = srv.URL, srv.Client(), srv.Client()
	v.opts.IdleTimeout, v.opts.MaxStaleness = time.Minute, maxStaleness
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var waits []time.Duration
	v.wait = func(ctx context.Context, d time.Duration) bool {
		waits = append(waits, d)
		cancel()
		return false
	}
	v.wg.Add(1)
	v.follow(ctx)
	return waits
}
