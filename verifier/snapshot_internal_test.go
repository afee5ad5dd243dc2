package verifier

import (
	"context"
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"github.com/sessiond/sessiond/verifier/stream"
)

// TestDecodeSnapshot_End: what follows a whole document decides. Its end,
// or white space then its end, loads it; another value or a stray
// character is data after the document; a read that fails there (the
// progress timer firing while the body's end is awaited, a connection
// cut) is that failure, not data after the document, which would send an
// operator looking for a server writing two documents.
func TestDecodeSnapshot_End(t *testing.T) {
	t.Parallel()
	doc := `{"revocations":[{"session_id":"ses_1","subject":"kim","revoked_at":"2026-01-01T00:00:00Z","reason":"logout","until":"2099-01-01T00:00:00Z"}],` +
		`"watermarks":[],"cursor":"` + stream.CursorAt(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)) + `"}`
	errCut := errors.New("less than 4 KiB for 200ms")
	for _, tc := range []struct {
		name    string
		tail    io.Reader
		wantErr error  // errors.Is; nil: see want
		want    string // in the error; "": loads
	}{
		{"end", strings.NewReader(""), nil, ""},
		{"white space, end", strings.NewReader(" \n\t\r\n"), nil, ""},
		{"a second document", strings.NewReader(doc), nil, "data after the document"},
		{"a number", strings.NewReader(" 1"), nil, "data after the document"},
		{"a stray character", strings.NewReader("x"), nil, "data after the document"},
		{"a stray bracket", strings.NewReader("]"), nil, "data after the document"},
		{"read fails", iotest.ErrReader(errCut), errCut, ""},
		{"white space, read fails", io.MultiReader(strings.NewReader("  "), iotest.ErrReader(errCut)), errCut, ""},
		{"a second document, read fails", io.MultiReader(strings.NewReader(doc), iotest.ErrReader(errCut)), nil, "data after the document"},
		{"white space over the bound", strings.NewReader(strings.Repeat(" ", maxSnapshotElement)), nil, "an element over 65536 bytes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			snap, err := decodeSnapshot(io.MultiReader(strings.NewReader(doc), tc.tail), 100)
			switch {
			case tc.wantErr != nil:
				if !errors.Is(err, tc.wantErr) {
					t.Errorf("decodeSnapshot = %v; want %v", err, tc.wantErr)
				}
				if err != nil && strings.Contains(err.Error(), "data after the document") {
					t.Errorf("decodeSnapshot = %v; a failed read is no data", err)
				}
			case tc.want != "":
				if err == nil || !strings.Contains(err.Error(), tc.want) {
					t.Errorf("decodeSnapshot = %v; want %q", err, tc.want)
				}
			default:
				if err != nil {
					t.Fatalf("decodeSnapshot = %v; want the document loaded", err)
				}
				if _, ok := snap.sessions["ses_1"]; !ok || len(snap.sessions) != 1 {
					t.Errorf("decodeSnapshot sessions = %v; want ses_1", snap.sessions)
				}
			}
		})
	}
}

// fakeTimer counts the times progress moves its timer on, and keeps
// the last wait it was set to.
type fakeTimer struct {
	resets int
	last   time.Duration
}

func (f *fakeTimer) Reset(d time.Duration) bool { f.resets++; f.last = d; return true }
func (f *fakeTimer) Stop() bool                 { return true }

// sizedReader returns reads of the sizes given, then io.EOF.
type sizedReader struct{ sizes []int }

func (r *sizedReader) Read(p []byte) (int, error) {
	if len(r.sizes) == 0 {
		return 0, io.EOF
	}
	n := min(r.sizes[0], len(p))
	if r.sizes[0] -= n; r.sizes[0] == 0 {
		r.sizes = r.sizes[1:]
	}
	clear(p[:n])
	return n, nil
}

// TestProgressBody_EachChunk: the timer moves on once each progressChunk
// of the body has been read, whatever sizes the reads come in: bytes read
// past a chunk count towards the next, so a body that arrives at 4 KiB a
// timeout, in reads that straddle the chunks, is not held to 8 KiB.
func TestProgressBody_EachChunk(t *testing.T) {
	t.Parallel()
	const k = progressChunk
	for _, tc := range []struct {
		name  string
		reads []int
		want  int // timer moved on
	}{
		{"less than a chunk", []int{k / 4, k / 4, k / 4}, 0},
		{"half chunks", []int{k / 2, k / 2, k / 2, k / 2}, 2},
		{"three quarters of a chunk each", []int{3 * k / 4, 3 * k / 4, 3 * k / 4, 3 * k / 4}, 3},
		{"a chunk and a half each", []int{3 * k / 2, 3 * k / 2}, 2},
		{"three quarters, a chunk and a half, three quarters", []int{3 * k / 4, 3 * k / 2, 3 * k / 4}, 2},
		{"a byte short, twice, then two", []int{k - 1, k - 1, 2}, 2},
		{"many chunks at once, then the rest of one", []int{5 * k / 2, k / 2}, 2},
		// Three chunks at once move it on once: the next timeout waits
		// for the next 4 KiB, not a byte (no credit carried over).
		{"three chunks at once, then a byte", []int{3 * k, 1}, 1},
		{"exactly a chunk, then a byte short of one", []int{k, k - 1}, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := &fakeTimer{}
			b := &progressBody{body: io.NopCloser(&sizedReader{sizes: append([]int{}, tc.reads...)}),
				p: &progress{timer: f, d: time.Second}, ctx: t.Context(), cancel: func(error) {}, timeout: time.Second}
			buf := make([]byte, 4*k)
			for i := range tc.reads {
				if n, err := b.Read(buf); err != nil || n != tc.reads[i] {
					t.Fatalf("read %d = %d, %v; want %d", i, n, err, tc.reads[i])
				}
			}
			if f.resets != tc.want {
				t.Errorf("reads of %v moved the timer on %d times; want %d", tc.reads, f.resets, tc.want)
			}
		})
	}
}

// TestProgressBody_Stalled: what a read cut by the progress timer says
// depends on what arrived since the timer last moved on: nothing is "no
// bytes", some is "less than 4 KiB". Bytes a read brought past a chunk
// count towards the next, but they came when the timer moved on: a body
// that stops right after them brought no bytes for the timeout.
func TestProgressBody_Stalled(t *testing.T) {
	t.Parallel()
	const k = progressChunk
	for _, tc := range []struct {
		name  string
		reads []int
		want  string
	}{
		{"nothing", nil, "no bytes for 1s"},
		{"a byte", []int{1}, "less than 4 KiB for 1s"},
		{"exactly a chunk", []int{k}, "no bytes for 1s"},
		{"a chunk and a byte in one read", []int{k + 1}, "no bytes for 1s"},
		{"two chunks and a half in one read", []int{5 * k / 2}, "no bytes for 1s"},
		{"a chunk and a byte, then a byte", []int{k + 1, 1}, "less than 4 KiB for 1s"},
		{"half a chunk, then a chunk", []int{k / 2, k}, "no bytes for 1s"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithCancelCause(t.Context())
			cancel(errNoProgress) // the timer fired after the reads
			errCut := errors.New("read cut")
			body := io.MultiReader(&sizedReader{sizes: append([]int{}, tc.reads...)}, iotest.ErrReader(errCut))
			b := &progressBody{body: io.NopCloser(body), p: &progress{timer: &fakeTimer{}, d: time.Second},
				ctx: ctx, cancel: func(error) {}, timeout: time.Second}
			buf := make([]byte, 4*k)
			for i := range tc.reads {
				if n, err := b.Read(buf); err != nil || n != tc.reads[i] {
					t.Fatalf("read %d = %d, %v; want %d", i, n, err, tc.reads[i])
				}
			}
			if _, err := b.Read(buf); err == nil || err.Error() != tc.want {
				t.Errorf("reads of %v, then the timer: Read = %v; want %q", tc.reads, err, tc.want)
			}
		})
	}
}

// TestProgress_GraceTurn: the timer's first fire since bytes last moved
// it on only gives the reader a turn; the second cancels, unless the
// reader completed a chunk in that turn (reset), which makes a fire
// already under way stale.
func TestProgress_GraceTurn(t *testing.T) {
	for _, tc := range []struct {
		name       string
		steps      string // f: the timer fires (it was due), r: a chunk read moves it on
		wantCancel bool
	}{
		{"OneFire", "f", false},
		{"TwoFires", "ff", true},
		{"FireThenChunk", "fr", false},
		{"FireChunkStaleFire", "frf", false},
		{"FireChunkStaleFireThenOne", "frff", false},
		{"FireChunkStaleFireThenTwo", "frfff", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var cause error
			f := &fakeTimer{}
			p := &progress{timer: f, d: time.Hour, cancel: func(err error) { cause = err }}
			stale := false
			for _, s := range tc.steps {
				switch s {
				case 'f':
					if !stale {
						p.due = time.Time{} // due: the timer ran its course
					}
					graced := p.graced
					p.fire()
					stale = false
					// A grace turn sets the timer again, for the turn
					// only: a fire that does not leaves a stalled
					// download waiting for ever.
					if p.graced && !graced && f.last != graceTurn {
						t.Fatalf("%s: a grace turn set the timer to %v; want %v", tc.steps, f.last, graceTurn)
					}
				case 'r':
					p.reset()
					stale = true // the next fire started before this reset
				}
			}
			if got := errors.Is(cause, errNoProgress); got != tc.wantCancel {
				t.Errorf("%s: cancelled = %v; want %v", tc.steps, got, tc.wantCancel)
			}
		})
	}
}

// TestProgress_FireAfterStop: a fire already under way when the download
// ended (stop) neither sets the timer again nor cancels, as the Node
// SDK's Progress drops a fire once stopped.
func TestProgress_FireAfterStop(t *testing.T) {
	for _, graced := range []bool{false, true} {
		var cause error
		f := &fakeTimer{}
		p := &progress{timer: f, d: time.Hour, cancel: func(err error) { cause = err }, graced: graced}
		p.stop()
		p.fire() // due: the zero time
		if f.resets != 0 || cause != nil {
			t.Errorf("graced %v: a fire after stop set the timer %d times and cancelled with %v; want neither", graced, f.resets, cause)
		}
	}
}
