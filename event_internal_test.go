package sessiond

import (
	"encoding/binary"
	"strings"
	"testing"
	"time"
)

// eventIDOf is the ID NewEventID gives at t when its random bits are r.
func eventIDOf(t time.Time, r uint64) string {
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], uint64(t.UnixMicro()))
	binary.BigEndian.PutUint64(b[8:], r)
	return "evt_" + strings.ToLower(eventIDEncoding.EncodeToString(b[:]))
}

// TestEventIDAfter: whatever the wall clock does between two events of a
// run (the concurrent-login checks'), the second's ID sorts after the
// first's, so the log, read in ID order, keeps the run's order; and an ID
// encodes the event's own time whenever the clock has moved on.
func TestEventIDAfter(t *testing.T) {
	at := time.Date(2030, time.March, 4, 5, 6, 7, 891234000, time.UTC)
	for _, c := range []struct {
		name string
		prev string
		t    time.Time
		// fresh: the ID is NewEventID's at t (t is past prev's time).
		fresh bool
	}{
		{"FirstOfRun", "", at, true},
		{"ClockMovedOn", eventIDOf(at, ^uint64(0)), at.Add(time.Microsecond), true},
		{"SameMicrosecond", eventIDOf(at, ^uint64(0)-1), at.Add(500 * time.Nanosecond), false},
		{"SameMicrosecondLastRandom", eventIDOf(at, ^uint64(0)), at, false},
		{"SteppedBackMicrosecond", eventIDOf(at, 1), at.Add(-time.Microsecond), false},
		{"SteppedBackSecond", eventIDOf(at, 1), at.Add(-time.Second), false},
		{"SteppedBackHour", eventIDOf(at, ^uint64(0)), at.Add(-time.Hour), false},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, tm := eventIDAfter(c.prev, c.t)
			if got <= c.prev {
				t.Fatalf("eventIDAfter(%s, %v) = %s; want an ID after %s", c.prev, c.t, got, c.prev)
			}
			if len(got) != len(eventIDOf(at, 0)) || !strings.HasPrefix(got, "evt_") {
				t.Fatalf("eventIDAfter(%s, %v) = %q; want NewEventID's form", c.prev, c.t, got)
			}
			if low, high := eventIDOf(c.t, 0), eventIDOf(c.t, ^uint64(0)); c.fresh && (got < low || got > high) {
				t.Errorf("eventIDAfter(%s, %v) = %s; want an ID encoding %v", c.prev, c.t, got, c.t)
			}
			// The time given is the one the ID encodes, never before t,
			// and t itself whenever the ID can encode t.
			if low, high := eventIDOf(tm, 0), eventIDOf(tm, ^uint64(0)); got < low || got > high || tm.Before(c.t) {
				t.Errorf("eventIDAfter(%s, %v) = %s, %v; want the time the ID encodes, not before %v", c.prev, c.t, got, tm, c.t)
			}
			if sameMicro := tm.UnixMicro() == c.t.UnixMicro(); sameMicro != tm.Equal(c.t) || c.fresh && !tm.Equal(c.t) {
				t.Errorf("eventIDAfter(%s, %v) = %s, %v; want %v itself when the ID encodes it", c.prev, c.t, got, tm, c.t)
			}
		})
	}
}

// TestEventIDAfter_Run: a run of events whose clock steps back in the
// middle and then catches up gets IDs in the run's order, none twice, and
// times in that order too, each encoded by its ID.
func TestEventIDAfter_Run(t *testing.T) {
	at := time.Date(2030, time.March, 4, 5, 6, 7, 891234000, time.UTC)
	times := []time.Time{
		at, at, at.Add(time.Microsecond),
		at.Add(-time.Second), at.Add(-time.Second), at.Add(-time.Millisecond), // stepped back
		at.Add(time.Microsecond), at.Add(2 * time.Microsecond), // caught up
	}
	prev, last := "", time.Time{}
	for i, tm := range times {
		id, at := eventIDAfter(prev, tm)
		if id <= prev {
			t.Fatalf("event %d at %v: ID %s; want one after the last, %s", i, tm, id, prev)
		}
		if at.Before(last) || id < eventIDOf(at, 0) || id > eventIDOf(at, ^uint64(0)) {
			t.Fatalf("event %d at %v: ID %s at %v; want the time the ID encodes, not before the last's %v", i, tm, id, at, last)
		}
		prev, last = id, at
	}
}
