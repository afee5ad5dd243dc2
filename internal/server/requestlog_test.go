package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
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
	bw := newBufferedWriter(out, time.Hour, 100)
	line := strings.Repeat("x", 29) + "\n"
	for range 10 {
		if _, err := bw.Write([]byte(line)); err != nil {
			t.Fatal(err)
		}
	}
	got, writes := out.state()
	if writes != 2 || got != strings.Repeat(line, 8) {
		t.Errorf("after 300 bytes with a 100-byte buffer: %d writes, %d bytes out; want 2 writes of 4 lines", writes, len(got))
	}
	bw.Close()
	if got, _ := out.state(); got != strings.Repeat(line, 10) {
		t.Errorf("after Close %d bytes out; want all 300", len(got))
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
