package server

import (
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
const (
	LogFlushInterval = 100 * time.Millisecond
	logBufferBytes   = 64 << 10
)

// NewLogger returns the server's logger as the log section asks (level,
// json or text), writing to w through a buffer, and the function that
// flushes what is left and stops the flushing goroutine. Call it once the
// server has stopped: a graceful stop loses no line. Unknown values fall
// back to info and json; the validator reports them (SD-LOG-001).
func NewLogger(w io.Writer, c config.Log) (*slog.Logger, func() error) {
	bw := newBufferedWriter(w, LogFlushInterval, logBufferBytes)
	opts := &slog.HandlerOptions{Level: logLevel(c.Level)}
	var h slog.Handler
	if c.Format == "text" {
		h = slog.NewTextHandler(bw, opts)
	} else {
		h = newJSONLineHandler(bw, opts.Level) // logjson.go: the JSONHandler's lines, cheaper
	}
	return slog.New(h), bw.Close
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

// bufferedWriter collects writes in memory and passes them on in batches:
// every interval, when the buffer reaches limit (the writer that fills it
// flushes), and on Close. Each Write is kept whole and in order. It is safe
// for concurrent use.
type bufferedWriter struct {
	out   io.Writer
	limit int

	mu     sync.Mutex // guards buf and closed
	buf    []byte
	closed bool

	outMu sync.Mutex // serialises writes to out, so batches stay in order
	spare []byte     // the batch being written; guarded by outMu

	stop      chan struct{}
	done      chan struct{}
	closeOnce sync.Once
	closeErr  error
}

func newBufferedWriter(out io.Writer, interval time.Duration, limit int) *bufferedWriter {
	b := &bufferedWriter{out: out, limit: limit, buf: make([]byte, 0, limit), spare: make([]byte, 0, limit),
		stop: make(chan struct{}), done: make(chan struct{})}
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
			_ = b.Flush() // nowhere to report it: this is the log
		}
	}
}

// Write buffers p. After Close it writes through.
func (b *bufferedWriter) Write(p []byte) (int, error) {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		b.outMu.Lock()
		defer b.outMu.Unlock()
		return b.out.Write(p)
	}
	b.buf = append(b.buf, p...)
	full := len(b.buf) >= b.limit
	b.mu.Unlock()
	if full {
		if err := b.Flush(); err != nil {
			return 0, err
		}
	}
	return len(p), nil
}

// Flush writes what is buffered.
func (b *bufferedWriter) Flush() error {
	b.outMu.Lock()
	defer b.outMu.Unlock()
	b.mu.Lock()
	b.buf, b.spare = b.spare[:0], b.buf
	b.mu.Unlock()
	if len(b.spare) == 0 {
		return nil
	}
	_, err := b.out.Write(b.spare)
	if cap(b.spare) > 4*b.limit {
		b.spare = make([]byte, 0, b.limit) // one huge line does not pin its buffer
	}
	return err
}

// Close stops the flushing goroutine and writes what is left; later writes
// go straight through. It is safe to call more than once.
func (b *bufferedWriter) Close() error {
	b.closeOnce.Do(func() {
		close(b.stop)
		<-b.done
		b.outMu.Lock()
		b.mu.Lock()
		b.closed = true
		rest := b.buf
		b.buf = nil
		b.mu.Unlock()
		if len(rest) > 0 {
			_, b.closeErr = b.out.Write(rest)
		}
		b.outMu.Unlock()
	})
	return b.closeErr
}
