package httpapi_test

import (
	"context"
	"encoding/json"
	"slices"
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
	doc := &markDoc{}
	e := newStreamEnv(t, doc.serve)
	erin := stream.Watermark{Subject: "erin", IssuedBefore: e.clock.Now().Add(-time.Hour)}
	doc.set(erin)
	c := e.live()
	// The lagging node stores the watermark, then logs it 30 s in the past.
	lag := e.clock.Now().Add(-30 * time.Second)
	doc.set(erin, stream.Watermark{Subject: "frank", IssuedBefore: lag.Add(-time.Second)})
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
// stream's first poll, by a node in step with this one, has its log entry
// in the window the resume reads, and that sends it (the document's copy
// is then not sent again: TestRevocationStream_LaggingWatermarkOnResume).
func TestRevocationStream_WatermarkBeforeFirstPoll(t *testing.T) {
	t.Parallel()
	doc := &markDoc{}
	e := newStreamEnv(t, doc.serve)
	cursor := stream.CursorAt(e.clock.Now()) // the snapshot's
	e.clock.Advance(2 * time.Second)
	ev := e.watermarkAt("frank", e.clock.Now())
	doc.set(stream.Watermark{Subject: "frank", IssuedBefore: e.clock.Now().Add(-time.Second)})
	e.clock.Advance(2 * time.Second)
	if got := e.open(cursor).catchUp(); !got[stream.SubID(ev.ID, 1)] {
		t.Errorf("catch-up from the snapshot's cursor sent %v; want frank's watermark %s", got, stream.SubID(ev.ID, 1))
	}
}

// A watermark raised by a node whose clock lags by more than Settle while
// a verifier is between connections (after its snapshot, or after its last
// connection's last poll) is in no window a resume reads: a connection
// that resumes sends the whole watermark document at its first poll, so
// it still arrives, once. A connection without a cursor starts at the
// present: the document is only its baseline.
func TestRevocationStream_LaggingWatermarkOnResume(t *testing.T) {
	t.Parallel()
	erin := stream.Watermark{Subject: "erin", IssuedBefore: t0.Add(-time.Hour)}
	for name, tc := range map[string]struct {
		// cursor returns the Last-Event-ID to connect with ("": none),
		// read before the lagging node raises frank's watermark.
		cursor func(e *streamEnv) string
		// inStep logs frank's watermark with this node's clock instead.
		inStep bool
		want   map[string]int // watermark events per subject in the catch-up
	}{
		"FromSnapshot": {cursor: snapshotCursor, want: map[string]int{"erin": 1, "frank": 1}},
		"AfterDrop": {cursor: func(e *streamEnv) string {
			// The heartbeat that ends the catch-up carries the cursor a
			// verifier applied last.
			c := e.open(snapshotCursor(e))
			b := c.next()
			for b.Name != "" || !b.Comment {
				b = c.next()
			}
			c.close()
			return b.ID
		}, want: map[string]int{"erin": 1, "frank": 1}},
		"InStepSentOnce":       {cursor: snapshotCursor, inStep: true, want: map[string]int{"erin": 1, "frank": 1}},
		"FreshStartsAtPresent": {cursor: func(*streamEnv) string { return "" }, want: map[string]int{}},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			doc := &markDoc{}
			doc.set(erin)
			e := newStreamEnv(t, doc.serve)
			cursor := tc.cursor(e)
			e.clock.Advance(2 * time.Second)
			at := e.clock.Now()
			if !tc.inStep {
				at = at.Add(-30 * time.Second)
			}
			frank := stream.Watermark{Subject: "frank", IssuedBefore: at.Add(-time.Second)}
			doc.set(erin, frank)
			e.watermarkAt("frank", at)
			e.clock.Advance(2 * time.Second)
			got := map[string]int{}
			count := func(b stream.Block) {
				t.Helper()
				if b.Name != stream.EventWatermark {
					return
				}
				var w stream.Watermark
				if err := json.Unmarshal(b.Data, &w); err != nil {
					t.Fatalf("watermark data %s: %v", b.Data, err)
				}
				if want := map[string]stream.Watermark{"erin": erin, "frank": frank}[w.Subject]; !w.IssuedBefore.Equal(want.IssuedBefore) {
					t.Errorf("watermark %+v; want %+v", w, want)
				}
				got[w.Subject]++
			}
			c := e.open(cursor)
			for b := c.next(); b.Name != "" || !b.Comment; b = c.next() {
				count(b)
			}
			// A node's streams share a read of the document for a poll
			// interval: one the dropped connection made may still serve
			// the catch-up, and the next read sends what it lacked.
			for got["frank"] < tc.want["frank"] {
				count(c.event())
			}
			if len(got) != len(tc.want) || got["erin"] != tc.want["erin"] || got["frank"] != tc.want["frank"] {
				t.Errorf("catch-up from %q sent watermarks %v; want %v", cursor, got, tc.want)
			}
		})
	}
}

// snapshotCursor loads the snapshot, as a verifier does at start, and
// returns its cursor.
func snapshotCursor(e *streamEnv) string {
	e.t.Helper()
	resp, err := e.hc.Do(mustRequest(e.t, e.srv.URL+stream.SnapshotPath))
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	var snap stream.Snapshot
	if err := json.NewDecoder(resp.Body).Decode(&snap); err != nil || resp.StatusCode != 200 {
		e.t.Fatalf("snapshot = %d %v", resp.StatusCode, err)
	}
	return snap.Cursor
}

// markDoc is the store's watermark document as the tests set it, served
// as RevocationStream.Watermarks.
type markDoc struct {
	mu    sync.Mutex
	marks []stream.Watermark
}

func (d *markDoc) set(marks ...stream.Watermark) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.marks = marks
}

func (d *markDoc) serve(rs *httpapi.RevocationStream) {
	rs.Watermarks = func(context.Context) ([]stream.Watermark, error) {
		d.mu.Lock()
		defer d.mu.Unlock()
		return slices.Clone(d.marks), nil
	}
}
