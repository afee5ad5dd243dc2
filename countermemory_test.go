package sessiond_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/sessiond/sessiond"
)

// TestCounterMemory_ClockSteppedBack: the caller's clock steps back an
// hour after a sweep. Ended windows are still swept within minutes of
// the new clock, not only once it has caught up with the old one, so
// memory stays about the windows running.
func TestCounterMemory_ClockSteppedBack(t *testing.T) {
	var c sessiond.CounterMemory
	ctx := t.Context()
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	w := time.Minute
	if _, _, err := c.Incr(ctx, "before", t0, w); err != nil { // sweeps, next one a minute on
		t.Fatal(err)
	}
	const keys = 10
	back := t0.Add(-time.Hour)
	for g := range 3 {
		at := back.Add(time.Duration(g) * 2 * w) // the previous generation's windows ended a minute ago
		for i := range keys {
			if _, _, err := c.Incr(ctx, fmt.Sprintf("gen%d:%d", g, i), at, w); err != nil {
				t.Fatal(err)
			}
		}
		// "before" started at t0, so its window has not ended by this clock.
		if got, want := c.Len(), keys+1; got != want {
			t.Fatalf("generation %d, an hour behind the last sweep: Len() = %d; want %d (the running windows)", g, got, want)
		}
	}
}
