package sessiond

import (
	"testing"
	"time"
)

// TestEventThrottle_OutOfOrder: callers judge events by the time they
// happened (the concurrent-login check by each login's creation), which
// reach the throttle slightly out of order when logins complete side by
// side. A time a little before the window's start counts in that window;
// only a clock stepped back by a whole window starts a new one. Before,
// any earlier time emptied the window, and a subject got a second alert
// within the minute.
func TestEventThrottle_OutOfOrder(t *testing.T) {
	t0 := time.Date(2026, 12, 7, 9, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name  string
		times []time.Duration // offsets from t0, in the order judged
		want  []bool
	}{
		{"in order", []time.Duration{0, time.Second}, []bool{true, false}},
		{"a moment earlier", []time.Duration{time.Second, 500 * time.Millisecond}, []bool{true, false}},
		{"a window later", []time.Duration{0, time.Minute}, []bool{true, true}},
		{"clock stepped back a window", []time.Duration{time.Minute, 0}, []bool{true, true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			u := eventThrottle{window: time.Minute, perKey: 1, max: 10}
			for i, d := range tc.times {
				if got := u.allow("", "alice", t0.Add(d)); got != tc.want[i] {
					t.Errorf("event %d at +%v: allow = %v; want %v", i, d, got, tc.want[i])
				}
			}
		})
	}
}
