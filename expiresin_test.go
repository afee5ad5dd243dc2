package sessiond_test

import (
	"math"
	"testing"
	"time"

	"github.com/sessiond/sessiond"
)

// TestExpiresIn: the one computation of expires_in (RFC 6749 §5.1) that
// the API's token answers and httpsession's refresh answer share: whole
// seconds from the answer to the end, rounded down, so a client counting
// them never holds a token past its end, and never negative.
func TestExpiresIn(t *testing.T) {
	now := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	tests := []struct {
		name string
		end  time.Time
		want int64
	}{
		{"an hour", now.Add(time.Hour), 3600},
		{"rounded down", now.Add(time.Hour - time.Millisecond), 3599},
		{"under a second", now.Add(999 * time.Millisecond), 0},
		{"now", now, 0},
		{"just past", now.Add(-time.Millisecond), 0},
		{"past", now.Add(-time.Minute), 0},
		{"past what a Duration holds", now.AddDate(400, 0, 0), int64(math.MaxInt64 / int64(time.Second))},
	}
	for _, tt := range tests {
		if got := sessiond.ExpiresIn(tt.end, now); got != tt.want {
			t.Errorf("%s: ExpiresIn(%s, %s) = %d; want %d", tt.name, tt.end, now, got, tt.want)
		}
	}
}
