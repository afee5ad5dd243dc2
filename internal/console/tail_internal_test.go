package console

import (
	"context"
	"testing"
	"time"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/memstore"
	"github.com/sessiond/sessiond/verifier/stream"
)

// TestTailWindow_ForgetsOutsideWindow: the live tail keeps the IDs it
// sent only while a read can return them again, so an open tail's memory
// does not grow with the events it has sent.
func TestTailWindow_ForgetsOutsideWindow(t *testing.T) {
	start := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
	w := newTailWindow(start, stream.CursorAt(start), start, time.Second)
	const every = 100 * time.Millisecond
	perWindow := int(w.back / every)
	for i := range 50 * perWindow {
		at := start.Add(time.Duration(i) * every)
		e := sessiond.Event{ID: sessiond.NewEventID(at), Time: at}
		if got := w.take(e, false); got != tailSend {
			t.Fatalf("event %d: take = %v; want tailSend", i, got)
		}
		if got := w.take(e, false); got != tailSkip {
			t.Fatalf("event %d again: take = %v; want tailSkip", i, got)
		}
		if w.hw != e.ID {
			t.Fatalf("event %d: cursor %s; want the event's ID %s", i, w.hw, e.ID)
		}
		w.advance(at, true)
		if len(w.shown) > perWindow+1 {
			t.Fatalf("after %d events the tail keeps %d IDs; want at most %d (the window's)", i+1, len(w.shown), perWindow+1)
		}
	}
	if want := start.Add(time.Duration(50*perWindow-1)*every - w.back); !w.from.Equal(want) {
		t.Errorf("from = %v; want %v (back before the newest event)", w.from, want)
	}
}

// TestTailWindow_IdleCursorMoves: a tail whose filters match nothing for
// a long time still moves its cursor after each complete read, so a
// reconnect then resumes instead of reporting events missed; after an
// incomplete one (a read failed) it does not.
func TestTailWindow_IdleCursorMoves(t *testing.T) {
	start := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		complete bool
		want     string
	}{
		{true, stream.CursorAt(start.Add(time.Hour - tailSettle - (tailRereadEvery-1)*time.Second))},
		{false, stream.CursorAt(start)},
	} {
		w := newTailWindow(start, stream.CursorAt(start), start, time.Second)
		w.advance(start.Add(time.Hour), tc.complete)
		if w.hw != tc.want {
			t.Errorf("complete %v: cursor after an idle hour %s; want %s", tc.complete, w.hw, tc.want)
		}
	}
}

// countingLog is an event log that counts its reads.
type countingLog struct {
	sessiond.EventLog
	reads, rows int
}

func (l *countingLog) QueryEvents(ctx context.Context, q sessiond.EventQuery) ([]sessiond.Event, string, error) {
	evs, next, err := l.EventLog.QueryEvents(ctx, q)
	l.reads++
	l.rows += len(evs)
	return evs, next, err
}

// TestTailer_BoundedCost: at any rate of matching events, a poll of the
// live tail reads the log a bounded number of times and the tail
// remembers at most maxTailShown IDs; past what it sends, it skips to now
// and says so (event: missed), and goes on. Below that, every event is
// sent once and nothing is said missed. Before the bound, at 10,000 events
// a second a poll read the log 917 times (91,667 rows) and remembered
// 100,000 IDs.
func TestTailer_BoundedCost(t *testing.T) {
	const polls = 30
	for _, tc := range []struct {
		name       string
		perSecond  int
		everyOnce  bool // every event sent, and nothing said missed
		maxAvgRead float64
	}{
		{"100 a second", 100, true, 6},
		{"300 a second", 300, true, 15},
		{"10,000 a second", 10_000, false, 6},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := t.Context()
			store := memstore.New()
			log := &countingLog{EventLog: store}
			now := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
			tl := &tailer{log: log, win: newTailWindow(now, stream.CursorAt(now), now, time.Second)}
			sent := map[string]int{}
			missed, logged, lastPolls := 0, 0, 0
			for p := range polls {
				evs := make([]sessiond.Event, tc.perSecond)
				for i := range evs {
					at := now.Add(time.Duration(i) * time.Second / time.Duration(tc.perSecond))
					evs[i] = sessiond.Event{ID: sessiond.NewEventID(at), Time: at, Type: sessiond.EventSessionCreated}
				}
				if err := store.AppendEvents(ctx, evs...); err != nil {
					t.Fatal(err)
				}
				logged += len(evs)
				now = now.Add(time.Second)
				reads, rows := log.reads, 0
				err := tl.poll(ctx, now, func(ms []tailMessage) error {
					for _, m := range ms {
						if m.event == "missed" {
							missed++
							continue
						}
						rows++
						sent[m.data.(eventRow).ID]++
					}
					return nil
				})
				if err != nil {
					t.Fatal(err)
				}
				if got, most := log.reads-reads, maxTailPages+maxTailShown/maxTailEvents+1; got > most {
					t.Errorf("poll %d read the log %d times; want at most %d", p+1, got, most)
				}
				if rows > maxTailPages*maxTailEvents {
					t.Errorf("poll %d sent %d events; want at most %d", p+1, rows, maxTailPages*maxTailEvents)
				}
				if p >= polls-10 {
					lastPolls += rows
				}
				if len(tl.win.shown) > maxTailShown {
					t.Fatalf("poll %d: the tail remembers %d IDs; want at most %d", p+1, len(tl.win.shown), maxTailShown)
				}
			}
			for id, n := range sent {
				if n != 1 {
					t.Errorf("event %s sent %d times", id, n)
				}
			}
			if avg := float64(log.reads) / polls; avg > tc.maxAvgRead {
				t.Errorf("%.1f reads of the log a poll on average; want at most %.0f", avg, tc.maxAvgRead)
			}
			t.Logf("%d events a second: %.1f reads (%.0f rows) a poll; %d of %d events sent, %d notices", tc.perSecond,
				float64(log.reads)/polls, float64(log.rows)/polls, len(sent), logged, missed)
			if tc.everyOnce {
				if len(sent) != logged || missed != 0 {
					t.Errorf("sent %d of %d events, %d notices; want every event and none", len(sent), logged, missed)
				}
				return
			}
			if missed == 0 {
				t.Error("the tail skipped events without a notice")
			}
			// It goes on after skipping: the window lets go of what it
			// holds.
			if want := 10 * maxTailPages * maxTailEvents / 2; lastPolls < want {
				t.Errorf("the last 10 polls sent %d events; want at least %d", lastPolls, want)
			}
		})
	}
}

// TestTailer_ResumeFarBehind: resuming four minutes back, with a flood
// logged meanwhile, the first poll reads a bounded part of it, sends what
// it read after the cursor, says the rest was missed, and the next poll
// sends what is new.
func TestTailer_ResumeFarBehind(t *testing.T) {
	ctx := t.Context()
	store := memstore.New()
	log := &countingLog{EventLog: store}
	now := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
	last := now.Add(-4 * time.Minute)
	var evs []sessiond.Event
	for at := last.Add(-time.Minute); at.Before(now); at = at.Add(10 * time.Millisecond) {
		evs = append(evs, sessiond.Event{ID: sessiond.NewEventID(at), Time: at, Type: sessiond.EventSessionCreated})
	}
	if err := store.AppendEvents(ctx, evs...); err != nil {
		t.Fatal(err)
	}
	lastID := stream.CursorAt(last)
	tl := &tailer{log: log, win: newTailWindow(last, lastID, now, time.Second)}
	var sent []string
	missed := 0
	send := func(ms []tailMessage) error {
		for _, m := range ms {
			if m.event == "missed" {
				missed++
				continue
			}
			sent = append(sent, m.data.(eventRow).ID)
		}
		return nil
	}
	if err := tl.poll(ctx, now, send); err != nil {
		t.Fatal(err)
	}
	if most := maxTailPages + maxTailShown/maxTailEvents + 2; log.reads > most {
		t.Errorf("the first poll read the log %d times; want at most %d", log.reads, most)
	}
	if missed != 1 || len(sent) == 0 || len(sent) > maxTailPages*maxTailEvents || sent[0] <= lastID {
		t.Fatalf("first poll: %d notices, sent %d events from %.12s; want one notice and events after %s", missed, len(sent), sent, lastID)
	}
	newer := sessiond.NewEventID(now.Add(time.Millisecond))
	if err := store.AppendEvents(ctx, sessiond.Event{ID: newer, Time: now.Add(time.Millisecond), Type: sessiond.EventSessionCreated}); err != nil {
		t.Fatal(err)
	}
	sent = nil
	if err := tl.poll(ctx, now.Add(time.Second), send); err != nil {
		t.Fatal(err)
	}
	if len(sent) != 1 || sent[0] != newer {
		t.Errorf("second poll sent %v; want only %s", sent, newer)
	}
}
