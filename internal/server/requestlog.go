package server

import (
	"bytes"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sessiond/sessiond/internal/config"
)

// The log is buffered so that a busy server does not make one write system
// call per request line: lines wait at most LogFlushInterval, or until
// logBufferBytes have accumulated.
// While the output does not take them, up to 16 times logBufferBytes wait
// (some 3000 request lines: a burst, or a reader's pause of a second at
// 3000 requests per second); past that a Write waits for room while the
// output's write in progress is younger than logStallAfter (a slow disk,
// a flusher short of CPU: at 40,000 lines a second 1 MiB is 90 ms), and
// lines are dropped and counted once it is older (a reader that stopped).
const (
	LogFlushInterval = 100 * time.Millisecond
	logBufferBytes   = 64 << 10
	logStallAfter    = 500 * time.Millisecond
)

// NewLogger returns the server's logger as the log section asks (level,
// json or text), writing to w through a buffer, and the function that
// flushes what is left and stops the flushing goroutine. Call it once the
// server has stopped: a graceful stop loses no line. Unknown values fall
// back to info and json; the validator reports them (SD-LOG-001).
func NewLogger(w io.Writer, c config.Log) (*slog.Logger, func() error) {
	log, out := NewLogOutput(w, c)
	return log, out.Close
}

// LogOutput is the buffer between the server's logger and its output.
type LogOutput struct{ bw *bufferedWriter }

// Close flushes what is left and stops the flushing goroutine.
func (o *LogOutput) Close() error { return o.bw.Close() }

// Dropped is the number of log lines lost so far: dropped because the
// output did not take them in time (a reader that stalls), or refused by
// it (a full disk, a reader gone). Each loss is also reported by a line
// "log lines lost" once the output takes lines again.
func (o *LogOutput) Dropped() uint64 { return o.bw.Dropped() }

// NewLogOutput is NewLogger, with the output's count of lost lines.
func NewLogOutput(w io.Writer, c config.Log) (*slog.Logger, *LogOutput) {
	bw := newBufferedWriter(w, LogFlushInterval, logBufferBytes)
	opts := &slog.HandlerOptions{Level: logLevel(c.Level)}
	var h slog.Handler
	if c.Format == "text" {
		h = slog.NewTextHandler(bw, opts)
	} else {
		h = newJSONLineHandler(bw, opts.Level) // logjson.go: the JSONHandler's lines, cheaper
	}
	log := slog.New(h)
	bw.lost = func(lines uint64, err error) {
		reason := "the log output did not take them in time"
		if err != nil {
			reason = err.Error()
		}
		log.Warn("log lines lost", "lines", lines, "reason", reason)
	}
	return log, &LogOutput{bw}
}

func logLevel(s string) slog.Level {
	switch s {
	case "debug":
		return slog.LevelDebug
	case "warn":
		return slog.LevelWarn
	case "error":
		return slog.LevelError
	}
	return slog.LevelInfo
}

// requestFilter returns the httpapi.Options.LogRequest hook for
// log.requests: nil (log everything) for "all"; errors only (status 400 and
// above); or errors plus one success in SampleEvery.
func requestFilter(c config.Log) func(status int) bool {
	switch c.Requests {
	case "errors":
		return func(status int) bool { return status >= 400 }
	case "sample":
		every := uint64(max(c.SampleEvery, 1))
		var n atomic.Uint64
		return func(status int) bool {
			return status >= 400 || n.Add(1)%every == 0
		}
	}
	return nil
}

// bufferedWriter collects writes in memory and passes them on in batches,
// from its own goroutine: every interval, as soon as the buffer reaches
// limit, and on Close. Each Write is kept whole and in order. It is safe
// for concurrent use.
//
// A Write waits for the output at most stallAfter: a log reader that
// stalls (a pipe nobody reads, a shipper paused) must not stall the
// requests that log.
// While the output does not take the lines, up to maxBuffered bytes wait;
// a further Write waits for room as long as the output's write in progress
// has lasted less than stallAfter (an output slow for a moment loses
// nothing), and is dropped and counted once it has lasted longer (or after
// waiting stallAfter), as are the lines of a batch the
// output refused (a full disk, a reader gone: EPIPE). Once a batch is
// written again, lost is called with the number of lines lost since the
// last report and the last error (nil when the output only stalled).
type bufferedWriter struct {
	out         io.Writer
	limit       int
	maxBuffered int
	stallAfter  time.Duration
	lost        func(lines uint64, err error)

	mu      sync.Mutex // guards buf, closed, unsaid, lastErr and the wait for room
	buf     []byte
	closed  bool
	unsaid  uint64 // lines lost since the last report
	lastErr error  // the output's last error since the last report
	// writeStart is when the write in progress began (zero: none); room
	// is closed, and replaced, whenever buf is emptied: waiters counts
	// the Writes waiting on it.
	writeStart time.Time
	room       chan struct{}
	waiters    int

	outMu sync.Mutex // serialises writes to out, so batches stay in order
	spare []byte     // the batch being written; guarded by outMu

	dropped atomic.Uint64 // lines lost in all, for the metric

	kick      chan struct{} // the buffer reached limit: flush now
	stop      chan struct{}
	done      chan struct{}
	closeOnce sync.Once
	closeErr  error
}

func newBufferedWriter(out io.Writer, interval time.Duration, limit int) *bufferedWriter {
	b := &bufferedWriter{out: out, limit: limit, maxBuffered: 16 * limit, stallAfter: logStallAfter,
		room: make(chan struct{}),
		buf:  make([]byte, 0, limit), spare: make([]byte, 0, limit),
		kick: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{})}
	go b.run(interval)
	return b
}

func (b *bufferedWriter) run(interval time.Duration) {
	defer close(b.done)
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-b.stop:
			return
		case <-t.C:
		case <-b.kick:
		}
		_ = b.Flush() // counted and reported by Flush: this is the log
	}
}

// Write buffers p, or drops and counts it when maxBuffered bytes already
// wait for the output. It does not wait for the output. After Close it
// writes through.
func (b *bufferedWriter) Write(p []byte) (int, error) {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		b.outMu.Lock()
		defer b.outMu.Unlock()
		return b.out.Write(p)
	}
	if len(b.buf)+len(p) > b.maxBuffered && len(b.buf) > 0 {
		if !b.waitRoomLocked(len(p)) {
			b.loseLocked(p, nil)
			b.mu.Unlock()
			return len(p), nil // counted: the caller can do nothing more
		}
		if b.closed {
			b.mu.Unlock()
			return b.Write(p) // Close took the buffer meanwhile
		}
	}
	b.buf = append(b.buf, p...)
	full := len(b.buf) >= b.limit
	b.mu.Unlock()
	if full {
		select {
		case b.kick <- struct{}{}:
		default: // a flush is already asked for
		}
	}
	return len(p), nil
}

// waitRoomLocked waits, b.mu held, until p's n bytes fit in buf, or the
// writer closed; false when the output stalled instead: its write in
// progress (or this wait) lasted stallAfter. Only a Write over the bound
// reads the clock.
func (b *bufferedWriter) waitRoomLocked(n int) bool {
	deadline := time.Now().Add(b.stallAfter)
	if !b.writeStart.IsZero() {
		deadline = b.writeStart.Add(b.stallAfter)
	}
	var timer *time.Timer
	for len(b.buf)+n > b.maxBuffered && len(b.buf) > 0 && !b.closed {
		wait := time.Until(deadline)
		if wait <= 0 {
			return false
		}
		if timer == nil {
			timer = time.NewTimer(wait)
			defer timer.Stop()
		}
		room := b.room
		b.waiters++
		b.mu.Unlock()
		select {
		case <-room:
		case <-timer.C:
		}
		b.mu.Lock()
		b.waiters--
	}
	return true
}

// roomLocked wakes the Writes waiting for room. b.mu is held.
func (b *bufferedWriter) roomLocked() {
	if b.waiters > 0 {
		close(b.room)
		b.room = make(chan struct{})
	}
}

// loseLocked counts the lines of p as lost. b.mu is held.
func (b *bufferedWriter) loseLocked(p []byte, err error) {
	n := uint64(max(bytes.Count(p, []byte{'\n'}), 1))
	b.unsaid += n
	b.dropped.Add(n)
	if err != nil {
		b.lastErr = err
	}
}

// Dropped is the number of lines lost so far: dropped while the output
// stalled, or refused by it.
func (b *bufferedWriter) Dropped() uint64 { return b.dropped.Load() }

// Flush writes what is buffered. A batch the output refuses is counted as
// lost, not kept: the next one may fit (a disk with room again).
func (b *bufferedWriter) Flush() error {
	b.outMu.Lock()
	b.mu.Lock()
	b.buf, b.spare = b.spare[:0], b.buf
	if len(b.spare) == 0 {
		b.mu.Unlock()
		b.outMu.Unlock()
		return nil
	}
	b.writeStart = time.Now()
	b.roomLocked()
	b.mu.Unlock()
	_, err := b.out.Write(b.spare)
	b.mu.Lock()
	b.writeStart = time.Time{}
	var lines uint64
	var lastErr error
	if err != nil {
		b.loseLocked(b.spare, err)
	} else if b.unsaid > 0 {
		lines, lastErr = b.unsaid, b.lastErr
		b.unsaid, b.lastErr = 0, nil
	}
	b.mu.Unlock()
	if cap(b.spare) > 4*b.limit {
		b.spare = make([]byte, 0, b.limit) // one huge line does not pin its buffer
	}
	b.outMu.Unlock()
	if lines > 0 && b.lost != nil {
		b.lost(lines, lastErr) // its line goes into the next batch
	}
	return err
}

// Close stops the flushing goroutine and writes what is left; later writes
// go straight through. It is safe to call more than once. It waits for a
// write the output has not taken yet (a reader that stalled).
func (b *bufferedWriter) Close() error {
	b.closeOnce.Do(func() {
		close(b.stop)
		<-b.done
		b.outMu.Lock()
		b.mu.Lock()
		b.closed = true
		rest := b.buf
		b.buf = nil
		b.roomLocked() // waiting Writes write through, after rest
		b.mu.Unlock()
		if len(rest) > 0 {
			_, b.closeErr = b.out.Write(rest)
		}
		b.mu.Lock()
		lines, lastErr := b.unsaid, b.lastErr
		if b.closeErr != nil {
			lines = 0 // the output refuses: no report can reach it
		}
		b.unsaid, b.lastErr = 0, nil
		b.mu.Unlock()
		b.outMu.Unlock()
		if lines > 0 && b.lost != nil {
			b.lost(lines, lastErr) // written through: the last line
		}
	})
	return b.closeErr
}
