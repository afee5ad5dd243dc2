package verifier

import (
	"bytes"
	"context"
	"errors"
	"io"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sessiond/sessiond/sessiondtest"
	"github.com/sessiond/sessiond/verifier/stream"
)

// TestLagMeter: heartbeats arrive 10 s apart on ticks; offsets are where
// each one's cursor is, relative to the ticks. A constant offset is clock
// skew, whatever its size or sign; a heartbeat less behind than the
// baseline becomes the baseline; the measure is how much further behind
// than the baseline each one is.
func TestLagMeter(t *testing.T) {
	t.Parallel()
	start := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	s := time.Second
	for _, tc := range []struct {
		name    string
		offsets []time.Duration
		want    []time.Duration
	}{
		{"in step", []time.Duration{0, 0, 0, 0}, []time.Duration{0, 0, 0, 0}},
		{"server an hour ahead", []time.Duration{time.Hour, time.Hour, time.Hour}, []time.Duration{0, 0, 0}},
		{"server an hour behind", []time.Duration{-time.Hour, -time.Hour, -time.Hour}, []time.Duration{0, 0, 0}},
		{"falling behind 5 s a heartbeat", []time.Duration{0, -5 * s, -10 * s, -35 * s}, []time.Duration{0, 5 * s, 10 * s, 35 * s}},
		{"falling behind, an hour of skew", []time.Duration{time.Hour, time.Hour - 5*s, time.Hour - 35*s}, []time.Duration{0, 5 * s, 35 * s}},
		{"a first heartbeat delayed: the next, less behind, is the baseline", []time.Duration{-20 * s, 0, -10 * s}, []time.Duration{0, 0, 10 * s}},
		{"the baseline lowered mid-connection", []time.Duration{0, -20 * s, 5 * s, -20 * s, -26 * s}, []time.Duration{0, 20 * s, 0, 25 * s, 31 * s}},
		{"a server clock stepped forward: the new baseline", []time.Duration{0, time.Hour, time.Hour - 10*s}, []time.Duration{0, 0, 10 * s}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var m lagMeter
			tick := int64(time.Hour) // a process's ticks are past zero
			var got []time.Duration
			for i, off := range tc.offsets {
				at := start.Add(time.Duration(i) * 10 * s).Add(off)
				got = append(got, m.behind(tick, at))
				tick += int64(10 * s)
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("behind with cursors at %v off the ticks = %v; want %v", tc.offsets, got, tc.want)
			}
		})
	}
}

// A cursor as far behind the baseline as cursors go (the epoch after
// 2^62 µs) is as far behind as a Duration goes, never wrapped to ahead.
func TestLagMeter_Saturates(t *testing.T) {
	t.Parallel()
	_, last, err := stream.ParseCursor(stream.CursorAt(time.UnixMicro(1 << 62)))
	if err != nil {
		t.Fatal(err)
	}
	var m lagMeter
	m.behind(0, last)
	if got := m.behind(int64(time.Second), time.Unix(0, 0)); got != time.Duration(1<<63-1) {
		t.Errorf("behind(the epoch, after a baseline at 2^62 µs) = %v; want the largest Duration", got)
	}
}

// TestConsume_DropsAStreamFallingBehind: consume ends with errBehind at
// the first heartbeat more than IdleTimeout further behind than the
// connection's first; that heartbeat moves neither the cursor nor
// LastSync. Each connection (each consume) starts its own baseline.
func TestConsume_DropsAStreamFallingBehind(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	v := bare()
	v.opts.IdleTimeout = 30 * time.Second
	clock := v.clock.(*sessiondtest.Clock)
	// Each heartbeat's block is read as the clock stands when the reader
	// reaches it: 10 s on from the one before.
	beats := []time.Duration{0, 5 * time.Second, 10 * time.Second, -5 * time.Second} // the fourth: 35 s further behind
	var body strings.Builder
	for _, at := range beats {
		body.WriteString(": heartbeat\nid: " + stream.CursorAt(t0.Add(at)) + "\n\n")
	}
	r := &tickingReader{blocks: strings.SplitAfter(body.String(), "\n\n"), clock: clock}
	err := v.consume(context.Background(), r, func() {})
	if !errors.Is(err, errBehind) {
		t.Fatalf("consume of heartbeats falling 35 s behind (IdleTimeout 30 s) = %v; want errBehind", err)
	}
	if want := stream.CursorAt(t0.Add(10 * time.Second)); v.cursor != want {
		t.Errorf("cursor = %q; want the last heartbeat taken, %q", v.cursor, want)
	}
	if got, want := time.Unix(0, v.lastSync.Load()).UTC(), clock.Now().Add(-10*time.Second); !got.Equal(want) {
		t.Errorf("LastSync = %s; want %s, the last heartbeat taken", got, want)
	}
	// A new connection: the same cursor again, 40 s later, is its baseline.
	clock.Advance(40 * time.Second)
	again := ": heartbeat\nid: " + stream.CursorAt(t0.Add(10*time.Second)) + "\n\n"
	if err := v.consume(context.Background(), bytes.NewReader([]byte(again)), func() {}); err != nil {
		t.Errorf("the first heartbeat of a new connection: consume = %v; want nil", err)
	}
}

// tickingReader returns one block per Read, the clock 10 s on before
// every block but the first.
type tickingReader struct {
	blocks []string
	clock  *sessiondtest.Clock
	n      int
}

func (r *tickingReader) Read(p []byte) (int, error) {
	for len(r.blocks) > 0 && r.blocks[0] == "" {
		r.blocks = r.blocks[1:]
	}
	if len(r.blocks) == 0 {
		return 0, io.EOF
	}
	if r.n > 0 {
		r.clock.Advance(10 * time.Second)
	}
	r.n++
	n := copy(p, r.blocks[0])
	r.blocks[0] = r.blocks[0][n:]
	return n, nil
}
