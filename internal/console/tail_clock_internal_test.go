package console

import (
	"testing"
	"time"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/memstore"
	"github.com/sessiond/sessiond/verifier/stream"
)

// TestTailer_ClockAheadEventHidesNoResume: one node's clock runs 30 s
// ahead (within what resume accepts). The tail's id must not follow that
// node's event into the future: events the other nodes log while the tail
// is disconnected (stamped by their correct clocks, so before it) would
// be taken on resume for ones already shown and never sent.
func TestTailer_ClockAheadEventHidesNoResume(t *testing.T) {
	ctx := t.Context()
	store := memstore.New()
	now := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
	tl := &tailer{log: store, win: newTailWindow(now, stream.CursorAt(now), now, time.Second)}
	sent := map[string]bool{}
	lastID := tl.win.hw
	send := func(ms []tailMessage) error {
		for _, m := range ms {
			if m.event == "" {
				sent[m.data.(eventRow).ID] = true
			}
			lastID = m.id
		}
		return nil
	}
	logAt := func(at time.Time) string {
		id := sessiond.NewEventID(at)
		if err := store.AppendEvents(ctx, sessiond.Event{ID: id, Time: at, Type: sessiond.EventSessionCreated}); err != nil {
			t.Fatal(err)
		}
		return id
	}
	if err := tl.poll(ctx, now, send); err != nil {
		t.Fatal(err)
	}
	ahead := logAt(now.Add(30 * time.Second)) // the node whose clock runs ahead
	if err := tl.poll(ctx, now.Add(time.Second), send); err != nil {
		t.Fatal(err)
	}
	if !sent[ahead] {
		t.Fatal("the ahead node's event was not sent")
	}
	// The stream drops; meanwhile a node with a right clock logs.
	missed := logAt(now.Add(3 * time.Second))
	later := now.Add(4 * time.Second)
	at, ok := tailCursor(lastID)
	if !ok || at.After(later.Add(tailResumeAhead)) {
		t.Fatalf("id %q would not be resumed from", lastID)
	}
	tl = &tailer{log: store, win: newTailWindow(at, lastID, later, time.Second)}
	for i := range 6 {
		if err := tl.poll(ctx, later.Add(time.Duration(i)*time.Second), send); err != nil {
			t.Fatal(err)
		}
	}
	if !sent[missed] {
		t.Errorf("event %s, logged while the tail was disconnected, was never sent after resuming from %s", missed, lastID)
	}
}
