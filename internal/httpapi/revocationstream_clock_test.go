package httpapi_test

import (
	"context"
	"encoding/json"
	"sync"
	"testing"
	"time"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/internal/httpapi"
	"github.com/sessiond/sessiond/verifier/stream"
)

// watermarkAt appends a watermark_raised entry for subject stamped at, as
// a node whose clock reads at writes it, and returns it.
func (e *streamEnv) watermarkAt(subject string, at time.Time) sessiond.Event {
	e.t.Helper()
	ev := sessiond.Event{ID: sessiond.NewEventID(at), Time: at, Type: httpapi.EventWatermarkRaised, Details: map[string]any{
		"subjects": []string{subject}, "issued_before": at.Add(-time.Second).Format(time.RFC3339Nano)}}
	if err := e.store.AppendEvents(e.t.Context(), ev); err != nil {
		e.t.Fatal(err)
	}
	return ev
}

// catchUp returns the IDs of the events a stream sends before the heartbeat
// that ends its catch-up.
func (c *conn) catchUp() map[string]bool {
	c.t.Helper()
	got := map[string]bool{}
	for {
		b := c.next()
		if b.Comment && b.Name == "" {
			return got
		}
		got[b.ID] = true
	}
}

// Watermarks and retired keys reach a verifier only through the log, so
// the window a stream reads must stay behind this node's clock, whatever
// the cursor or the clock did: entries stamped by this clock (or another
// in step with it) would otherwise fall before the window and never be
// sent, on a stream with no snapshot reload to repair it.
func TestRevocationStream_ClockSkew(t *testing.T) {
	t.Parallel()
	t.Run("ResumeFromCursorAhead", func(t *testing.T) {
		t.Parallel()
		e := newStreamEnv(t, nil)
		c := e.live()
		// A node whose clock runs 30 s ahead raises a watermark; the
		// client's cursor is now its ID.
		ahead := e.watermarkAt("alice", e.clock.Now().Add(30*time.Second))
		if b := c.event(); b.ID != ahead.ID {
			t.Fatalf("live event %s; want %s", b.ID, ahead.ID)
		}
		c.close()
		// While the client reconnects, a node in step with this one
		// raises another.
		e.clock.Advance(time.Second)
		inStep := e.watermarkAt("bob", e.clock.Now())
		c2 := e.open(ahead.ID)
		if got := c2.catchUp(); !got[inStep.ID] {
			t.Errorf("resume from a cursor 30 s ahead sent %v; want %s, logged meanwhile by a node in step", got, inStep.ID)
		}
	})
	t.Run("StepBack", func(t *testing.T) {
		t.Parallel()
		e := newStreamEnv(t, nil)
		c := e.live()
		before := e.clock.Now()
		// NTP steps this node's clock back 30 s (it ran ahead).
		e.clock.Set(before.Add(-30 * time.Second))
		stepped := e.watermarkAt("carol", e.clock.Now())
		// A marker stamped at the time the clock read before the step:
		// every poll reads it, and sorts it after the stepped entry.
		marker := e.watermarkAt("dave", before)
		if b := c.event(); b.ID != stepped.ID {
			t.Errorf("first event after the clock stepped back %s; want %s (the marker is %s)", b.ID, stepped.ID, marker.ID)
		}
	})
	t.Run("HeartbeatNotAheadOfClock", func(t *testing.T) {
		t.Parallel()
		e := newStreamEnv(t, nil)
		cursor := stream.CursorAt(e.clock.Now().Add(30 * time.Second))
		c := e.open(cursor)
		b := c.next()
		if !b.Comment {
			t.Fatalf("first block %+v; want the heartbeat", b)
		}
		if _, at, err := stream.ParseCursor(b.ID); err != nil || at.After(e.clock.Now()) {
			t.Errorf("heartbeat id %s (%v, %v) after a cursor 30 s ahead; want one not after this node's clock %v", b.ID, at, err, e.clock.Now())
		}
	})
}

// A node whose clock lags this one's by more than Settle stamps its
// watermark_raised entry before every window this node reads: the stream
// sends the watermark anyway, from the store's watermark document, which
// it compares at every poll independently of clocks.
func TestRevocationStream_LaggingWatermark(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var marks []stream.Watermark
	e := newStreamEnv(t, func(rs *httpapi.RevocationStream) {
		rs.Watermarks = func(context.Context) ([]stream.Watermark, error) {
			mu.Lock()
			defer mu.Unlock()
			return append([]stream.Watermark(nil), marks...), nil
		}
	})
	mu.Lock()
	marks = []stream.Watermark{{Subject: "erin", IssuedBefore: e.clock.Now().Add(-time.Hour)}}
	mu.Unlock()
	c := e.live()
	// The lagging node stores the watermark, then logs it 30 s in the past.
	lag := e.clock.Now().Add(-30 * time.Second)
	mu.Lock()
	marks = []stream.Watermark{{Subject: "erin", IssuedBefore: e.clock.Now().Add(-time.Hour)}, {Subject: "frank", IssuedBefore: lag.Add(-time.Second)}}
	mu.Unlock()
	e.watermarkAt("frank", lag)
	b := c.event()
	var w stream.Watermark
	if err := json.Unmarshal(b.Data, &w); b.Name != stream.EventWatermark || err != nil || w.Subject != "frank" || !w.IssuedBefore.Equal(lag.Add(-time.Second)) {
		t.Fatalf("event %q %s (%v); want frank's watermark at %v, logged by a node 30 s behind", b.Name, b.Data, err, lag.Add(-time.Second))
	}
	if _, _, err := stream.ParseCursor(b.ID); err != nil {
		t.Errorf("watermark id %q is not a cursor: %v", b.ID, err)
	}
}

// A watermark raised between the snapshot a client loaded and its
// stream's first poll is in that poll's baseline of the store's document,
// so the document does not send it: by a node in step with this one, its
// log entry falls in the window the resume reads, and that sends it.
func TestRevocationStream_WatermarkBeforeFirstPoll(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var marks []stream.Watermark
	e := newStreamEnv(t, func(rs *httpapi.RevocationStream) {
		rs.Watermarks = func(context.Context) ([]stream.Watermark, error) {
			mu.Lock()
			defer mu.Unlock()
			return append([]stream.Watermark(nil), marks...), nil
		}
	})
	cursor := stream.CursorAt(e.clock.Now()) // the snapshot's
	e.clock.Advance(2 * time.Second)
	ev := e.watermarkAt("frank", e.clock.Now())
	mu.Lock()
	marks = []stream.Watermark{{Subject: "frank", IssuedBefore: e.clock.Now().Add(-time.Second)}}
	mu.Unlock()
	e.clock.Advance(2 * time.Second)
	if got := e.open(cursor).catchUp(); !got[stream.SubID(ev.ID, 1)] {
		t.Errorf("catch-up from the snapshot's cursor sent %v; want frank's watermark %s", got, stream.SubID(ev.ID, 1))
	}
}
