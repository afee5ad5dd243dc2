//go:build unix

package testenv

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// FIFO makes a named pipe no one writes to, for tests of code that must not
// open one as a file: opening it for reading without O_NONBLOCK waits
// forever. It skips the test where mkfifo is not allowed.
func FIFO(tb testing.TB) string {
	tb.Helper()
	p := filepath.Join(tb.TempDir(), "fifo")
	if err := syscall.Mkfifo(p, 0o600); err != nil {
		tb.Skipf("mkfifo: %v", err)
	}
	return p
}

// NotBlockedOn runs fn and fails the test if fn still waits on fifo after
// 30 s (a hang, not a slow run); a writer then opens and closes the FIFO so
// that fn returns before the test ends.
func NotBlockedOn(tb testing.TB, fifo string, fn func()) {
	tb.Helper()
	done := make(chan struct{})
	go func() { defer close(done); fn() }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		// Non-blocking: if fn has just returned there is no reader, and
		// this fails rather than waiting.
		if w, err := os.OpenFile(fifo, os.O_WRONLY|syscall.O_NONBLOCK, 0); err == nil {
			w.Close()
			<-done
		}
		tb.Fatalf("still waiting on the FIFO %s after 30s", fifo)
	}
}
