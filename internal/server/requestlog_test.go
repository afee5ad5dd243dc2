package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sessiond/sessiond/internal/config"
)

// countingWriter records what reaches the underlying writer and how many
// Write calls (system calls, for a file) it took.
type countingWriter struct {
	mu     sync.Mutex
	buf    bytes.Buffer
	writes int
	fail   error
}

func (w *countingWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.writes++
	if w.fail != nil {
		return 0, w.fail
	}
	return w.buf.Write(p)
}

func (w *countingWriter) state() (string, int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String(), w.writes
}

func TestBufferedWriter_BatchesUntilClose(t *testing.T) {
	out := &countingWriter{}
	bw := newBufferedWriter(out, time.Hour, 1<<20)
	var want strings.Builder
	for i := range 1000 {
		line := fmt.Sprintf(`{"msg":"request","n":%d}`+"\n", i)
		want.WriteString(line)
		if n, err := bw.Write([]byte(line)); err != nil || n != len(line) {
			t.Fatalf("Write = %d, %v; want %d, nil", n, err, len(line))
		}
	}
	if _, writes := out.state(); writes != 0 {
		t.Fatalf("%d writes reached the output before a flush; want 0", writes)
	}
	if err := bw.Close(); err != nil {
		t.Fatal(err)
	}
	got, writes := out.state()
	if writes != 1 {
		t.Errorf("1000 lines took %d writes; want 1", writes)
	}
	if got != want.String() {
		t.Error("the output differs from the lines written, in content or order")
	}
	if err := bw.Close(); err != nil {
		t.Errorf("second Close = %v", err)
	}
}

func TestBufferedWriter_FlushesWhenFull(t *testing.T) {
	out := &countingWriter{}
	bw := newBufferedWriter(out, time.Hour, 100) // only a full buffer flushes before Close
	line := strings.Repeat("x", 29) + "\n"
	for range 4 { // 120 bytes: the fourth fills the buffer
		if _, err := bw.Write([]byte(line)); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(30 * time.Second)
	for got, _ := out.state(); got != strings.Repeat(line, 4); got, _ = out.state() {
		if time.Now().After(deadline) {
			t.Fatalf("a full buffer was not flushed: %d bytes out; want 120", len(got))
		}
		time.Sleep(time.Millisecond)
	}
	bw.Write([]byte(line))
	bw.Close()
	if got, _ := out.state(); got != strings.Repeat(line, 5) {
		t.Errorf("after Close %d bytes out; want all 150", len(got))
	}
}

// stallingWriter is a log reader that stops reading: its first Write
// signals entered and blocks until release is closed.
type stallingWriter struct {
	countingWriter
	entered, release chan struct{}
	once             sync.Once
}

func (w *stallingWriter) Write(p []byte) (int, error) {
	w.once.Do(func() {
		close(w.entered)
		<-w.release
	})
	return w.countingWriter.Write(p)
}

// TestBufferedWriter_StalledOutput: a reader that stalls (a pipe nobody
// reads) never blocks a Write: once maxBuffered bytes wait, further lines
// are dropped and counted, and the count is reported once the output
// takes lines again. Before, the writer that filled the buffer waited for
// the stalled output, and with it every request that logged.
func TestBufferedWriter_StalledOutput(t *testing.T) {
	out := &stallingWriter{entered: make(chan struct{}), release: make(chan struct{})}
	bw := newBufferedWriter(out, time.Hour, 100)
	bw.maxBuffered = 400
	bw.stallAfter = 0 // the write in progress counts as stalled at once
	type report struct {
		lines uint64
		err   error
	}
	reports := make(chan report, 1)
	bw.lost = func(lines uint64, err error) {
		reports <- report{lines, err}
		fmt.Fprintf(bw, "lost %d\n", lines)
	}
	line := strings.Repeat("x", 29) + "\n"
	wrote := make(chan struct{})
	go func() {
		defer close(wrote)
		write := func() {
			if n, err := bw.Write([]byte(line)); n != len(line) || err != nil {
				t.Errorf("Write = %d, %v; want %d, nil", n, err, len(line))
			}
		}
		for range 4 { // fills the buffer: the flusher takes these 4 and stalls
			write()
		}
		<-out.entered
		for range 96 { // 13 fit in 400 bytes; 83 are dropped
			write()
		}
	}()
	select {
	case <-wrote:
	case <-time.After(30 * time.Second):
		close(out.release)
		t.Fatal("Write blocked on a stalled output")
	}
	if got := bw.Dropped(); got != 83 {
		t.Errorf("Dropped = %d while the output stalled; want 83", got)
	}
	close(out.release)
	select {
	case r := <-reports:
		if r.lines != 83 || r.err != nil {
			t.Errorf("reported %d lines lost (%v); want 83, nil", r.lines, r.err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the lines lost were not reported once the output took lines again")
	}
	if err := bw.Close(); err != nil {
		t.Fatal(err)
	}
	if got, _ := out.state(); got != strings.Repeat(line, 17)+"lost 83\n" {
		t.Errorf("output %q; want the 17 lines kept, then the report", got)
	}
}

// TestBufferedWriter_RefusedBatch: a batch the output refuses (a full
// disk: ENOSPC; a reader gone: EPIPE) is counted as lost, and reported
// with the error by the first batch written again; a loss Close cannot
// report to an output that still refuses is only counted.
func TestBufferedWriter_RefusedBatch(t *testing.T) {
	errFull := errors.New("no space left on device")
	out := &countingWriter{fail: errFull}
	bw := newBufferedWriter(out, time.Hour, 1<<20)
	var lines uint64
	var lostErr error
	bw.lost = func(n uint64, err error) {
		lines, lostErr = n, err
		fmt.Fprintf(bw, "lost %d: %v\n", n, err)
	}
	bw.Write([]byte("one\ntwo\n")) // one Write of two lines counts two
	bw.Write([]byte("three\n"))
	if err := bw.Flush(); !errors.Is(err, errFull) {
		t.Fatalf("Flush = %v; want the output's error", err)
	}
	if got := bw.Dropped(); got != 3 {
		t.Errorf("Dropped = %d; want 3", got)
	}
	out.mu.Lock()
	out.fail = nil // room again
	out.mu.Unlock()
	bw.Write([]byte("four\n"))
	if err := bw.Flush(); err != nil {
		t.Fatal(err)
	}
	if lines != 3 || !errors.Is(lostErr, errFull) {
		t.Errorf("reported %d lines lost (%v); want 3 and the output's error", lines, lostErr)
	}
	bw.Close()
	if got, _ := out.state(); got != "four\nlost 3: no space left on device\n" {
		t.Errorf("output %q", got)
	}
}

// TestNewLogOutput_LostLine: the report of lost lines is a WARN line of
// the log's own format, with the count and the reason.
func TestNewLogOutput_LostLine(t *testing.T) {
	out := &countingWriter{fail: errors.New("broken pipe")}
	log, lo := NewLogOutput(out, config.Log{Format: "json"})
	log.Info("request")
	lo.bw.Flush()
	out.mu.Lock()
	out.fail = nil
	out.mu.Unlock()
	log.Info("request")
	lo.bw.Flush()
	if err := lo.Close(); err != nil {
		t.Fatal(err)
	}
	got, _ := out.state()
	lines := strings.Split(strings.TrimSpace(got), "\n")
	if len(lines) != 2 {
		t.Fatalf("output %q; want the second request line, then the report", got)
	}
	var rec struct {
		Level, Msg, Reason string
		Lines              int
	}
	if err := json.Unmarshal([]byte(lines[1]), &rec); err != nil {
		t.Fatal(err)
	}
	if rec.Level != "WARN" || rec.Msg != "log lines lost" || rec.Lines != 1 || rec.Reason != "broken pipe" {
		t.Errorf("report %+v; want WARN \"log lines lost\", 1 line, reason broken pipe", rec)
	}
	if lo.Dropped() != 1 {
		t.Errorf("Dropped = %d; want 1", lo.Dropped())
	}
}

func TestBufferedWriter_FlushesOnInterval(t *testing.T) {
	out := &countingWriter{}
	bw := newBufferedWriter(out, 5*time.Millisecond, 1<<20)
	defer bw.Close()
	bw.Write([]byte("one\n"))
	deadline := time.Now().Add(10 * time.Second)
	for {
		if got, _ := out.state(); got == "one\n" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("a buffered line never reached the output without Close")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestBufferedWriter_Concurrent(t *testing.T) {
	out := &countingWriter{}
	bw := newBufferedWriter(out, time.Millisecond, 512)
	// Order and wholeness only: these writers outrun any flusher, and a
	// small limit would have lines dropped (TestBufferedWriter_StalledOutput).
	bw.maxBuffered = 1 << 30
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 500 {
				fmt.Fprintf(bw, "g%d-%04d-%s\n", g, i, strings.Repeat("y", g*7))
			}
		})
	}
	wg.Wait()
	bw.Close()
	got, _ := out.state()
	lines := strings.Split(strings.TrimSuffix(got, "\n"), "\n")
	if len(lines) != 4000 {
		t.Fatalf("%d lines; want 4000", len(lines))
	}
	next := map[int]int{}
	for _, l := range lines {
		var g, i int
		parts := strings.SplitN(l, "-", 3)
		if len(parts) != 3 {
			t.Fatalf("line %q is torn", l)
		}
		fmt.Sscanf(parts[0], "g%d", &g)
		fmt.Sscanf(parts[1], "%d", &i)
		if want := fmt.Sprintf("g%d-%04d-%s", g, i, strings.Repeat("y", g*7)); l != want {
			t.Fatalf("line %q is torn or interleaved", l)
		}
		if i != next[g] {
			t.Fatalf("goroutine %d: line %d arrived where %d was expected", g, i, next[g])
		}
		next[g]++
	}
}

func TestBufferedWriter_AfterClose(t *testing.T) {
	out := &countingWriter{}
	bw := newBufferedWriter(out, time.Hour, 1<<20)
	bw.Write([]byte("before\n"))
	bw.Close()
	bw.Write([]byte("after\n"))
	if got, _ := out.state(); got != "before\nafter\n" {
		t.Errorf("output %q; a write after Close must go straight through", got)
	}
}

func TestBufferedWriter_ReportsWriteError(t *testing.T) {
	out := &countingWriter{fail: errors.New("disk full")}
	bw := newBufferedWriter(out, time.Hour, 1<<20)
	bw.Write([]byte("line\n"))
	if err := bw.Close(); err == nil {
		t.Error("Close = nil; want the output's error")
	}
}

func TestRequestFilter(t *testing.T) {
	tests := []struct {
		name   string
		log    config.Log
		status []int
		want   []bool // nil: no filter, every request logged
	}{
		{"all", config.Log{Requests: "all"}, nil, nil},
		{"unknown falls back to all", config.Log{Requests: "bogus"}, nil, nil},
		{"errors", config.Log{Requests: "errors"},
			[]int{200, 201, 204, 304, 399, 400, 401, 404, 500, 503},
			[]bool{false, false, false, false, false, true, true, true, true, true}},
		{"sample one in three", config.Log{Requests: "sample", SampleEvery: 3},
			[]int{200, 200, 200, 401, 200, 200, 200, 500, 200},
			[]bool{false, false, true, true, false, false, true, true, false}},
		{"sample every one", config.Log{Requests: "sample", SampleEvery: 1},
			[]int{200, 200, 404}, []bool{true, true, true}},
		{"sample below one acts as one", config.Log{Requests: "sample", SampleEvery: 0},
			[]int{200, 200}, []bool{true, true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := requestFilter(tt.log)
			if tt.want == nil {
				if f != nil {
					t.Error("requestFilter returned a filter; want nil (log every request)")
				}
				return
			}
			for i, st := range tt.status {
				if got := f(st); got != tt.want[i] {
					t.Errorf("request %d (status %d): logged = %v; want %v", i, st, got, tt.want[i])
				}
			}
		})
	}
}

func TestNewLogger(t *testing.T) {
	tests := []struct {
		name    string
		log     config.Log
		check   func(string) bool
		wantOut bool // whether the info line appears
	}{
		{"json info", config.Log{Level: "info", Format: "json"}, func(s string) bool { return json.Valid([]byte(s)) }, true},
		{"text", config.Log{Level: "info", Format: "text"}, func(s string) bool { return strings.Contains(s, "msg=hello") }, true},
		{"debug", config.Log{Level: "debug", Format: "json"}, func(s string) bool { return json.Valid([]byte(s)) }, true},
		{"warn drops info", config.Log{Level: "warn", Format: "json"}, nil, false},
		{"error drops info", config.Log{Level: "error", Format: "json"}, nil, false},
		{"unknown values: info, json", config.Log{Level: "loud", Format: "xml"}, func(s string) bool { return json.Valid([]byte(s)) }, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := &countingWriter{}
			log, closeLog := NewLogger(out, tt.log)
			log.InfoContext(context.Background(), "hello", "k", "v")
			if got, _ := out.state(); got != "" {
				t.Fatalf("a line reached the output unbuffered: %q", got)
			}
			if err := closeLog(); err != nil {
				t.Fatal(err)
			}
			got, _ := out.state()
			if !tt.wantOut {
				if got != "" {
					t.Errorf("level %s logged an info line: %q", tt.log.Level, got)
				}
				return
			}
			if !tt.check(strings.TrimSpace(got)) {
				t.Errorf("format %s: unexpected line %q", tt.log.Format, got)
			}
		})
	}
}

// TestBufferedWriter_SlowOutputLosesNothing: an output that is slow but
// takes lines (a disk under writeback, a flusher short of CPU on a busy
// host) must not lose a line: a Write over maxBuffered waits for room
// while the write in progress has not yet taken stallAfter, and drops
// only once it has (TestBufferedWriter_StalledOutput). Before, any pause
// of the output longer than maxBuffered's worth of lines (1 MiB: some
// 90 ms at the verify benchmark's rate) dropped lines.
func TestBufferedWriter_SlowOutputLosesNothing(t *testing.T) {
	out := &stallingWriter{entered: make(chan struct{}), release: make(chan struct{})}
	bw := newBufferedWriter(out, time.Hour, 100)
	bw.maxBuffered = 400
	bw.stallAfter = time.Hour // the write in progress is never old enough to be a stall
	line := strings.Repeat("x", 29) + "\n"
	wrote := make(chan struct{})
	go func() {
		defer close(wrote)
		for range 100 { // the first 4 fill the buffer; the flusher takes them and is slow
			if n, err := bw.Write([]byte(line)); n != len(line) || err != nil {
				t.Errorf("Write = %d, %v; want %d, nil", n, err, len(line))
			}
		}
	}()
	<-out.entered
	// Release the output once a Write waits for room (or, broken, once
	// every Write returned without waiting: dropped).
	for waiting := false; !waiting; {
		select {
		case <-wrote:
			waiting = true
		default:
			bw.mu.Lock()
			waiting = bw.waiters > 0
			bw.mu.Unlock()
			runtime.Gosched()
		}
	}
	close(out.release) // the output takes lines again
	<-wrote
	if err := bw.Close(); err != nil {
		t.Fatal(err)
	}
	if got := bw.Dropped(); got != 0 {
		t.Errorf("Dropped = %d with an output that was slow, not stalled; want 0", got)
	}
	if got, _ := out.state(); got != strings.Repeat(line, 100) {
		t.Errorf("output has %d bytes; want all 100 lines (3000 bytes), in order", len(got))
	}
}

// TestBufferedWriter_CloseReports: lines lost since the last report are
// reported by Close, as the last line, when the output takes its last
// batch; not when it still refuses (the report could not reach it).
func TestBufferedWriter_CloseReports(t *testing.T) {
	errFull := errors.New("no space left on device")
	for _, tc := range []struct {
		name        string
		failAtClose bool
		want        string
		wantReports int
	}{
		{"output takes lines again", false, "two\nlost 1\n", 1},
		{"output still refuses", true, "", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := &countingWriter{fail: errFull}
			bw := newBufferedWriter(out, time.Hour, 1<<20)
			reports := 0
			bw.lost = func(n uint64, err error) {
				reports++
				fmt.Fprintf(bw, "lost %d\n", n)
			}
			bw.Write([]byte("one\n"))
			bw.Flush() // refused: one line lost
			if !tc.failAtClose {
				out.mu.Lock()
				out.fail = nil
				out.mu.Unlock()
			}
			bw.Write([]byte("two\n"))
			err := bw.Close()
			if tc.failAtClose != (err != nil) {
				t.Errorf("Close = %v; want an error %v", err, tc.failAtClose)
			}
			if got, _ := out.state(); got != tc.want || reports != tc.wantReports {
				t.Errorf("output %q, %d reports; want %q, %d", got, reports, tc.want, tc.wantReports)
			}
		})
	}
}
