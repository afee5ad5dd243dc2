package console

import (
	"testing"
	"time"

	"github.com/sessiond/sessiond"
)

// TestTailWindow_ForgetsOutsideWindow: the live tail keeps the IDs it
// sent only while a read can return them again, so an open tail's memory
// does not grow with the events it has sent.
func TestTailWindow_ForgetsOutsideWindow(t *testing.T) {
	start := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
	w := newTailWindow(start)
	const every = 100 * time.Millisecond
	perWindow := int(tailSettle / every)
	for i := range 50 * perWindow {
		at := start.Add(time.Duration(i) * every)
		e := sessiond.Event{ID: sessiond.NewEventID(at), Time: at}
		if !w.fresh(e, false) {
			t.Fatalf("event %d is not fresh", i)
		}
		if w.fresh(e, false) {
			t.Fatalf("event %d is fresh twice", i)
		}
		w.advance(at)
		if len(w.shown) > perWindow+1 {
			t.Fatalf("after %d events the tail keeps %d IDs; want at most %d (the window's)", i+1, len(w.shown), perWindow+1)
		}
	}
	if want := start.Add(time.Duration(50*perWindow-1)*every - tailSettle); !w.from.Equal(want) {
		t.Errorf("from = %v; want %v (tailSettle before the newest event)", w.from, want)
	}
}
