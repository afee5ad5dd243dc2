// Package testenv holds what the repository's tests share to reach the
// world outside the process: the skip-or-fail rule for missing servers and
// programs (SESSIOND_TEST_REQUIRE), free ports, the sessiond binary built
// once, Chromium with node and its packages, cleaning a Redis prefix, and a
// log sink goroutines may write to while a test reads it.
//
// Only tests and test-support packages (sessiondtest, *test) import it.
package testenv

import (
	"bytes"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
)

// Required reports whether SESSIOND_TEST_REQUIRE=1 is set (as in CI): a
// test whose server or program is missing fails instead of skipping.
func Required() bool { return os.Getenv("SESSIOND_TEST_REQUIRE") == "1" }

// Missing skips tb, or fails it when Required, with "<what> need(s)
// <missing, joined>". It does nothing when missing is empty.
func Missing(tb testing.TB, what string, missing ...string) {
	tb.Helper()
	if len(missing) == 0 {
		return
	}
	SkipOrFail(tb, what+" need "+strings.Join(missing, ", "))
}

// SkipOrFail skips tb with msg, or fails it when Required so a missing
// prerequisite cannot pass for a green run.
func SkipOrFail(tb testing.TB, msg string) {
	tb.Helper()
	if Required() {
		tb.Fatal(msg + " (SESSIOND_TEST_REQUIRE=1)")
	}
	tb.Skip(msg)
}

// FreePorts returns n TCP addresses (127.0.0.1:port) that were free a
// moment ago, all distinct.
func FreePorts(tb testing.TB, n int) []string {
	tb.Helper()
	out := make([]string, 0, n)
	lns := make([]net.Listener, 0, n)
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			tb.Fatal(err)
		}
		lns = append(lns, ln)
		out = append(out, ln.Addr().String())
	}
	for _, ln := range lns {
		ln.Close()
	}
	return out
}

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func FreePort(tb testing.TB) int {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// SyncBuffer is a log sink that goroutines (a server, a child process's
// stderr) may write to while the test reads it.
type SyncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *SyncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

// String returns everything written so far.
func (s *SyncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
