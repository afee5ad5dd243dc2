package sessiond_test

import (
	"context"
	"encoding/base32"
	"encoding/binary"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/sessiond/sessiond"
)

// eventIDMicros is the time, in unix µs, that an ID of
// sessiond.NewEventID's form encodes.
func eventIDMicros(t *testing.T, id string) int64 {
	t.Helper()
	b, err := base32.HexEncoding.WithPadding(base32.NoPadding).DecodeString(strings.ToUpper(strings.TrimPrefix(id, "evt_")))
	if err != nil || len(b) != 16 {
		t.Fatalf("event ID %q: not NewEventID's form (%v)", id, err)
	}
	return int64(binary.BigEndian.Uint64(b[:8]))
}

// TestManager_ConcurrentLoginClockSteppedBack: the wall clock steps back
// an hour between two concurrent-login events of a run. The second still
// sorts after the first in the log, which is read in ID order, and its ID
// encodes its Time, as every ID the server writes does: readers that take
// an event's time from its ID (the console's older pages, its live tail's
// cursors) and the stores' time ranges by ID rely on it. Before, its Time
// was the stepped-back clock's and its ID the first's time: the console's
// older pages, which leave out every ID after the last event shown, listed
// it on none of them.
func TestManager_ConcurrentLoginClockSteppedBack(t *testing.T) {
	sink := &batchSink{first: make(chan struct{}), arrived: make(chan struct{}), calls: make(chan []sessiond.Event, 64)}
	close(sink.first)
	h := newHarness(t, sessiond.StrategyHybrid, nil)
	st, m := heldNode(t, h, sink)
	const subjects = 3
	for i := range subjects {
		for range 2 { // the second login of each subject is reported
			h.clock.Advance(time.Millisecond)
			if _, err := m.Create(context.Background(), fmt.Sprintf("user%d", i), sessiond.CreateOptions{Client: desktop}); err != nil {
				t.Fatal(err)
			}
		}
	}
	reads := st.next(t, 2*subjects) // every read held: the checks are judged in login order, as released
	var got []sessiond.Event
	for i := range subjects {
		if i > 0 {
			h.clock.Advance(-time.Hour)
		}
		for _, r := range reads { // the reads run side by side: they arrive in any order
			if r.subject == fmt.Sprintf("user%d", i) {
				r.release <- nil
			}
		}
		select {
		case c := <-sink.calls:
			got = append(got, c...)
		case <-time.After(10 * time.Second):
			t.Fatalf("no concurrent-login event for user%d", i)
		}
	}
	for i, e := range got {
		if want := fmt.Sprintf("user%d", i); e.Subject != want {
			t.Fatalf("event %d for %s; want %s (login order)", i, e.Subject, want)
		}
		if us := eventIDMicros(t, e.ID); us != e.Time.UnixMicro() {
			t.Errorf("event %d: ID %s encodes %v; want its Time %v", i, e.ID, time.UnixMicro(us).UTC(), e.Time)
		}
		if i > 0 && e.ID <= got[i-1].ID {
			t.Errorf("event %d ID %s sorts at or before event %d's %s: the log would show them out of order", i, e.ID, i-1, got[i-1].ID)
		}
		if i > 0 && e.Time.Before(got[i-1].Time) {
			t.Errorf("event %d at %v, before event %d at %v: a reader by time shows the run out of order", i, e.Time, i-1, got[i-1].Time)
		}
	}
}
