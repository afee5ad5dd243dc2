// Package testenv holds what the repository's tests share to reach the
// world outside the process: the skip-or-fail rule for missing servers and
// programs (SESSIOND_TEST_REQUIRE), free ports, the sessiond binary built
// once, Chromium with node and its packages, cleaning a Redis prefix, a
// log sink goroutines may write to while a test reads it, and what a test
// plays a client with (a browser's HTTP client, JWS, DPoP proofs).
//
// Only tests and test-support packages (sessiondtest, *test) import it.
package testenv

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"os"
	"os/exec"
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

// Programs finds each program of progs on PATH (or in /usr/sbin, where
// Debian puts nginx) and returns their paths by name; it skips tb (fails
// it when Required) naming the missing ones, with hint (how to install
// them) after the list.
func Programs(tb testing.TB, what, hint string, progs ...string) map[string]string {
	tb.Helper()
	found := map[string]string{}
	var missing []string
	for _, p := range progs {
		path, err := exec.LookPath(p)
		if err != nil {
			if _, serr := os.Stat("/usr/sbin/" + p); serr == nil {
				path, err = "/usr/sbin/"+p, nil
			}
		}
		if err != nil {
			missing = append(missing, p)
			continue
		}
		found[p] = path
	}
	if len(missing) > 0 {
		Missing(tb, what, strings.Join(missing, ", ")+hint)
	}
	return found
}

// Unset is for a test that runs on each configured store: the server
// named by the environment variable env is not configured. It fails tb
// when Required, and otherwise logs that what is not tested.
func Unset(tb testing.TB, env, what string) {
	tb.Helper()
	if Required() {
		tb.Fatalf("%s is not set but SESSIOND_TEST_REQUIRE=1", env)
	}
	tb.Logf("%s not set: %s", env, what)
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

// Records returns the JSON lines written so far (a slog.JSONHandler's),
// each parsed; it fails tb on a line that is not JSON.
func (s *SyncBuffer) Records(tb testing.TB) []map[string]any {
	tb.Helper()
	var out []map[string]any
	for _, l := range strings.Split(s.String(), "\n") {
		if l == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			tb.Fatalf("log line %q: %v", l, err)
		}
		out = append(out, m)
	}
	return out
}

// Serve runs run (a server such as internal/server.Run, which reports its
// address through listening once it accepts connections) until the test
// ends, and returns that address. It fails tb if run returns first.
func Serve(tb testing.TB, run func(ctx context.Context, listening func(addr string)) error) string {
	tb.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	addr := make(chan string, 1)
	done := make(chan error, 1)
	go func() { done <- run(ctx, func(a string) { addr <- a }) }()
	tb.Cleanup(func() { cancel(); <-done })
	select {
	case a := <-addr:
		return a
	case err := <-done:
		done <- err // for the cleanup
		tb.Fatalf("the server did not start: %v", err)
	}
	return ""
}
