package verifier

import (
	"fmt"
	"net/http"
	"slices"
	"time"
)

// maxRetryAfter caps how long a Retry-After holds the follower off: past
// MaxStaleness the state is stale anyway, and a proxy's hour-long value
// must not keep a verifier off a server that is back.
const maxRetryAfter = 5 * time.Minute

// refusedError: the server (or a proxy) answered the stream 429 or 503.
type refusedError struct {
	status     int
	retryAfter time.Duration // from Retry-After, at most maxRetryAfter; 0: none
}

func (e *refusedError) Error() string {
	if e.retryAfter > 0 {
		return fmt.Sprintf("stream: status %d, retry after %s", e.status, e.retryAfter)
	}
	return fmt.Sprintf("stream: status %d", e.status)
}

// refused returns the error of a stream answered with a status other
// than 200: a *refusedError for 429 and 503, with their Retry-After. Two
// Retry-After headers are none (the Node verifier reads them joined, which
// is no value either).
func refused(resp *http.Response, now time.Time) error {
	if resp.StatusCode != http.StatusTooManyRequests && resp.StatusCode != http.StatusServiceUnavailable {
		return fmt.Errorf("stream: status %d", resp.StatusCode)
	}
	e := &refusedError{status: resp.StatusCode}
	if vs := resp.Header.Values("Retry-After"); len(vs) == 1 {
		e.retryAfter = retryAfter(vs[0], now)
	}
	return e
}

// retryAfter reads a Retry-After value (RFC 9110 §10.2.3): delay-seconds
// (digits only) or an HTTP date (IMF-fixdate, the form senders must use;
// the Node verifier reads the same two) as a delay from now, at most
// maxRetryAfter; 0 if it is neither or already past.
func retryAfter(v string, now time.Time) time.Duration {
	if v == "" {
		return 0
	}
	secs, digits := 0, true
	for i := 0; i < len(v) && digits; i++ {
		digits = v[i] >= '0' && v[i] <= '9'
		// Counted no further than the cap: a longer value is capped, not
		// overflowed into a short or negative one.
		secs = min(secs*10+int(v[i]-'0'), int(maxRetryAfter/time.Second))
	}
	if digits {
		return time.Duration(secs) * time.Second
	}
	if t, ok := imfFixdate(v); ok && t.After(now) {
		return min(t.Sub(now), maxRetryAfter)
	}
	return 0
}

var dayNames = []string{"Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"}

// imfFixdate reads an IMF-fixdate (RFC 9110 §5.6.7) to the letter, as the
// Node verifier's pattern does: time.Parse alone also takes names in
// another case, runs of spaces and a fraction of a second. The day name
// is checked for its spelling only (time.Parse and the Node verifier
// ignore whether it is the date's).
func imfFixdate(v string) (time.Time, bool) {
	t, err := time.Parse(http.TimeFormat, v)
	if err != nil || !slices.Contains(dayNames, v[:3]) || t.Format(http.TimeFormat)[3:] != v[3:] {
		return time.Time{}, false
	}
	return t, true
}
