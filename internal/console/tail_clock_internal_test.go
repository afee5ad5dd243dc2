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
	now := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
	c := newClockTail(t, now)
	c.poll(now)
	ahead := c.logAt(now.Add(30 * time.Second)) // the node whose clock runs ahead
	c.poll(now.Add(time.Second))
	if c.sent[ahead] == 0 {
		t.Fatal("the ahead node's event was not sent")
	}
	// The stream drops; meanwhile a node with a right clock logs.
	missed := c.logAt(now.Add(3 * time.Second))
	later := now.Add(4 * time.Second)
	at, ok := tailCursor(c.lastID)
	if !ok || at.After(later.Add(tailResumeAhead)) {
		t.Fatalf("id %q would not be resumed from", c.lastID)
	}
	c.resume(at, later)
	for i := range 6 {
		c.poll(later.Add(time.Duration(i) * time.Second))
	}
	if c.sent[missed] == 0 {
		t.Errorf("event %s, logged while the tail was disconnected, was never sent after resuming from %s", missed, c.lastID)
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
			start := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
			c := newClockTail(t, start)
			logAt, poll, sent := c.logAt, c.poll, c.sent
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
			at, ok := tailCursor(c.lastID)
			if !ok {
				t.Fatalf("id %q is no cursor", c.lastID)
			}
			if at.After(later) {
				t.Errorf("the tail's id %s (%v) is ahead of the clock, %v, after it stepped back", c.lastID, at, later)
			}
			c.resume(at, later)
			for i := range 3 {
				poll(later.Add(time.Duration(i) * time.Second))
			}
			if sent[meanwhile] == 0 {
				t.Errorf("event %s, logged while the tail was disconnected after the step, was never sent after resuming from %s", meanwhile, c.lastID)
			}
		})
	}
}

// TestTailer_ClockStepBackBeforeFirstPoll: this node's clock steps back
// between the tail's start (a fresh one, or one resumed from an id) and
// its first poll. The first read takes what it finds at or before where
// the tail started for shown already (on the events page, or by the
// connection resumed from); the events stamped after the step fall there
// too, and were never sent: the step moved the window and the cursor back
// but not that mark.
func TestTailer_ClockStepBackBeforeFirstPoll(t *testing.T) {
	for _, step := range []time.Duration{2 * time.Second, 13 * time.Second, 30 * time.Second, 4 * time.Minute} {
		for _, resumed := range []bool{false, true} {
			name := step.String() + "/fresh"
			if resumed {
				name = step.String() + "/resumed"
			}
			t.Run(name, func(t *testing.T) {
				start := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
				c := newClockTail(t, start)
				if resumed {
					// A tail that sent events for a while, then dropped; the
					// browser reconnects with its id.
					for i := range 5 {
						at := start.Add(time.Duration(i) * time.Second)
						c.logAt(at)
						c.poll(at)
					}
					at, ok := tailCursor(c.lastID)
					if !ok {
						t.Fatalf("id %q is no cursor", c.lastID)
					}
					start = start.Add(5 * time.Second)
					c.resume(at, start)
				}
				stepped := start.Add(-step)
				after := c.logAt(stepped.Add(250 * time.Millisecond))
				// Still behind where the tail started, or the last event the
				// resumed connection sent: the step is seen.
				first := stepped.Add(500 * time.Millisecond)
				c.poll(first)
				if c.sent[after] != 1 {
					t.Errorf("an event stamped after the clock stepped back %v, before the first poll, was sent %d times by it; want once", step, c.sent[after])
				}
				if at, ok := tailCursor(c.lastID); !ok || at.After(first.Add(time.Microsecond)) {
					t.Errorf("the tail's id %s is ahead of the clock, %v, after it stepped back", c.lastID, first)
				}
				next := c.logAt(first.Add(500 * time.Millisecond))
				for i := range 3 {
					c.poll(first.Add(time.Duration(i+1) * time.Second))
				}
				if c.sent[next] != 1 || c.sent[after] != 1 {
					t.Errorf("after three more polls: sent %d and %d times; want once each", c.sent[after], c.sent[next])
				}
			})
		}
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
		start := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
		now := start
		c := newClockTail(t, now)
		tl, sent := c.tl, c.sent
		var logged []string
		from, hw := tl.win.from, tl.win.hw
		for i := range 200 {
			for range r.IntN(4) {
				at := now.Add(time.Duration(r.IntN(65_000_000)-5_000_000) * time.Microsecond)
				if id := c.logAt(at); at.After(start) {
					logged = append(logged, id)
				}
			}
			c.poll(now)
			if c.notices > 0 {
				t.Fatalf("seed %d: %d notices from the tail", seed, c.notices)
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
			c.poll(now)
		}
		for _, id := range logged {
			if sent[id] != 1 {
				t.Errorf("seed %d: event %s sent %d times; want once", seed, id, sent[id])
			}
		}
	}
}

// clockTail is a tailer over a memory store's event log, polled on the
// clock a test gives: sent counts each event row it sent, notices the
// other messages, and lastID is the id of the last message (what a
// browser resumes from).
type clockTail struct {
	t       *testing.T
	store   *memstore.Store
	tl      *tailer
	sent    map[string]int
	notices int
	lastID  string
}

// newClockTail starts a tail at now, from the log's position at now.
func newClockTail(t *testing.T, now time.Time) *clockTail {
	c := &clockTail{t: t, store: memstore.New(), sent: map[string]int{}}
	c.tl = &tailer{log: c.store, win: newTailWindow(now, stream.CursorAt(now), now, time.Second)}
	c.lastID = c.tl.win.hw
	return c
}

// logAt logs an event stamped at (by whichever node's clock) and returns
// its ID.
func (c *clockTail) logAt(at time.Time) string {
	c.t.Helper()
	id := sessiond.NewEventID(at)
	if err := c.store.AppendEvents(c.t.Context(), sessiond.Event{ID: id, Time: at, Type: sessiond.EventSessionCreated}); err != nil {
		c.t.Fatal(err)
	}
	return id
}

// poll polls the tail with this node's clock at now.
func (c *clockTail) poll(now time.Time) {
	c.t.Helper()
	err := c.tl.poll(c.t.Context(), now, func(ms []tailMessage) error {
		for _, m := range ms {
			if m.event == "" {
				c.sent[m.data.(eventRow).ID]++
			} else {
				c.notices++
			}
			c.lastID = m.id
		}
		return nil
	})
	if err != nil {
		c.t.Fatal(err)
	}
}

// resume starts the tail again as a browser reconnecting with lastID
// (whose time is at) does, on a node whose clock says now.
func (c *clockTail) resume(at, now time.Time) {
	c.tl = &tailer{log: c.store, win: newTailWindow(at, c.lastID, now, time.Second)}
}
