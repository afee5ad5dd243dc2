package console

import (
	"math/rand/v2"
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

// TestTailer_ClockStepBack: this node's clock steps back (NTP corrects a
// clock that ran ahead) by more than the window reaches back (12 s with
// one-second polls). The events stamped from then on, by this node and by
// the nodes in step with it, are sent at the next polls, where they were
// hidden until the clock caught up with where it had been; and the id the
// tail gives for a resume does not stay ahead, so that a reconnect sends
// what was logged meanwhile.
func TestTailer_ClockStepBack(t *testing.T) {
	for _, step := range []time.Duration{13 * time.Second, 30 * time.Second, 4 * time.Minute} {
		t.Run(step.String(), func(t *testing.T) {
			ctx := t.Context()
			store := memstore.New()
			start := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
			tl := &tailer{log: store, win: newTailWindow(start, stream.CursorAt(start), start, time.Second)}
			sent := map[string]int{}
			lastID := tl.win.hw
			send := func(ms []tailMessage) error {
				for _, m := range ms {
					if m.event == "" {
						sent[m.data.(eventRow).ID]++
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
			poll := func(now time.Time) {
				t.Helper()
				if err := tl.poll(ctx, now, send); err != nil {
					t.Fatal(err)
				}
			}
			// A minute of polls, an event each.
			var before []string
			for i := range 60 {
				at := start.Add(time.Duration(i) * time.Second)
				before = append(before, logAt(at))
				poll(at)
			}
			stepped := start.Add(60*time.Second - step)
			after := logAt(stepped)
			for i := range 2 {
				poll(stepped.Add(time.Duration(i) * time.Second))
			}
			if sent[after] != 1 {
				t.Errorf("an event stamped after the clock stepped back %v was sent %d times in the two polls after; want once", step, sent[after])
			}
			for _, id := range before {
				if sent[id] == 0 {
					t.Errorf("event %s, logged before the step, was never sent", id)
				}
			}
			// The stream drops; an event is logged meanwhile.
			meanwhile := logAt(stepped.Add(2 * time.Second))
			later := stepped.Add(3 * time.Second)
			at, ok := tailCursor(lastID)
			if !ok {
				t.Fatalf("id %q is no cursor", lastID)
			}
			if at.After(later) {
				t.Errorf("the tail's id %s (%v) is ahead of the clock, %v, after it stepped back", lastID, at, later)
			}
			tl = &tailer{log: store, win: newTailWindow(at, lastID, later, time.Second)}
			for i := range 3 {
				poll(later.Add(time.Duration(i) * time.Second))
			}
			if sent[meanwhile] == 0 {
				t.Errorf("event %s, logged while the tail was disconnected after the step, was never sent after resuming from %s", meanwhile, lastID)
			}
		})
	}
}

// TestTailer_NoStepBackWithoutStep: stepBack moves the window back only
// when this node's clock went back. With a clock that only goes forward,
// at irregular intervals (a busy machine), and events stamped up to a
// minute ahead (another node's clock) or up to 5 s behind (a late
// commit), the window's start and the cursor never move back, and every
// event stamped after the tail started is sent exactly once.
func TestTailer_NoStepBackWithoutStep(t *testing.T) {
	for seed := range uint64(50) {
		r := rand.New(rand.NewPCG(seed, 1))
		ctx := t.Context()
		store := memstore.New()
		start := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
		now := start
		tl := &tailer{log: store, win: newTailWindow(now, stream.CursorAt(now), now, time.Second)}
		sent := map[string]int{}
		send := func(ms []tailMessage) error {
			for _, m := range ms {
				if m.event != "" {
					t.Fatalf("seed %d: %s notice %v", seed, m.event, m.data)
				}
				sent[m.data.(eventRow).ID]++
			}
			return nil
		}
		var logged []string
		from, hw := tl.win.from, tl.win.hw
		for i := range 200 {
			for range r.IntN(4) {
				at := now.Add(time.Duration(r.IntN(65_000_000)-5_000_000) * time.Microsecond)
				id := sessiond.NewEventID(at)
				if err := store.AppendEvents(ctx, sessiond.Event{ID: id, Time: at, Type: sessiond.EventSessionCreated}); err != nil {
					t.Fatal(err)
				}
				if at.After(start) {
					logged = append(logged, id)
				}
			}
			if err := tl.poll(ctx, now, send); err != nil {
				t.Fatal(err)
			}
			if tl.win.from.Before(from) || tl.win.hw < hw {
				t.Fatalf("seed %d, poll %d at %v: the window moved back (from %v to %v, cursor %s to %s) with no clock step",
					seed, i, now, from, tl.win.from, hw, tl.win.hw)
			}
			from, hw = tl.win.from, tl.win.hw
			now = now.Add(time.Duration(r.IntN(3000)) * time.Millisecond)
		}
		for range 70 { // past the newest event stamped ahead
			now = now.Add(time.Second)
			if err := tl.poll(ctx, now, send); err != nil {
				t.Fatal(err)
			}
		}
		for _, id := range logged {
			if sent[id] != 1 {
				t.Errorf("seed %d: event %s sent %d times; want once", seed, id, sent[id])
			}
		}
	}
}
