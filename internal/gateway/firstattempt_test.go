package gateway_test

import (
	"testing"
	"time"

	"github.com/sessiond/sessiond/internal/gateway"
)

// TestFirstAttemptTimeout: the first refresh attempt is cut short only
// when its retry, a second after, can still arrive inside the reuse
// interval. At 2s or less it cannot (the shortest first attempt, 1s, and
// the pause already use it up), so cutting the first attempt would only
// turn a slow answer (1.5s, say) into a retry past the interval, taken
// for theft: the first attempt then gets the whole 15s, as with none.
func TestFirstAttemptTimeout(t *testing.T) {
	for _, tt := range []struct {
		reuse, want time.Duration
	}{
		{0, 15 * time.Second},
		{time.Second, 15 * time.Second},
		{2 * time.Second, 15 * time.Second},
		{2500 * time.Millisecond, time.Second},
		{3 * time.Second, time.Second},
		{5 * time.Second, 3 * time.Second},
		{10 * time.Second, 8 * time.Second},
		{30 * time.Second, 15 * time.Second},
	} {
		if got := gateway.FirstAttemptTimeout(tt.reuse); got != tt.want {
			t.Errorf("FirstAttemptTimeout(%v) = %v; want %v", tt.reuse, got, tt.want)
		}
	}
}
