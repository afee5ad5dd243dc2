package server

import (
	"testing"
	"time"
)

// TestRetentionEvery: an event, or a finished webhook delivery, is deleted
// at most a tenth of events.retention (and never less than a minute) after
// the retention has passed, and the pass runs at most hourly: a fixed hourly
// pass kept a retention of one minute's events for up to an hour (the
// soak's event log and outbox only grew), and a Redis sized for an hour of
// events (SD-STORE-005) needed memory for two.
func TestRetentionEvery(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name string
		keep time.Duration
		want time.Duration
	}{
		{"a minute: every minute", time.Minute, time.Minute},
		{"ten minutes: every minute", 10 * time.Minute, time.Minute},
		{"an hour: every six minutes", time.Hour, 6 * time.Minute},
		{"ten hours: hourly", 10 * time.Hour, time.Hour},
		{"the default 90 days: hourly", 2160 * time.Hour, time.Hour},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := retentionEvery(c.keep); got != c.want {
				t.Errorf("retentionEvery(%v) = %v; want %v", c.keep, got, c.want)
			}
		})
	}
}
