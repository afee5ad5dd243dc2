package verifier

import (
	"sync/atomic"
	"testing"
	"time"

	"github.com/sessiond/sessiond/sessiondtest"
)

// TestVerifier_StaleOnTicks: how long ago the state was proven current is
// measured on ticks, which only move forward, not on the wall clock, which
// NTP or a restored VM may step either way.
func TestVerifier_StaleOnTicks(t *testing.T) {
	t.Parallel()
	start := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name       string
		wall, tick time.Duration // how far each moved since the last sync
		want       bool
	}{
		{"fresh", time.Second, time.Second, false},
		{"past MaxStaleness", 31 * time.Second, 31 * time.Second, true},
		{"wall stepped back, stream silent", -10 * time.Minute, 31 * time.Second, true},
		{"wall stepped forward", time.Hour, time.Second, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			clock := sessiondtest.NewClock(start)
			var ticks atomic.Int64
			v := bare()
			v.clock, v.ticks, v.opts.MaxStaleness = clock, ticks.Load, 30*time.Second
			v.markSynced()
			clock.Set(start.Add(tc.wall))
			ticks.Add(int64(tc.tick))
			if got := v.stale(clock.Now()); got != tc.want {
				t.Errorf("stale after the wall clock moved %v and ticks %v = %v; want %v", tc.wall, tc.tick, got, tc.want)
			}
		})
	}
}
