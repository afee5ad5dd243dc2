package main

import (
	"context"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sessiond/sessiond/client"
	"github.com/sessiond/sessiond/internal/testenv"
)

// startPiped starts serve with its stderr on a pipe the test holds, as
// `sessiond serve 2>&1 | shipper` has it, and returns the node once it
// serves, with the pipe's read end: the test decides whether that reader
// goes on reading, stalls or goes away. n.log holds what was read.
func startPiped(t *testing.T) (*node, *os.File) {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	n := &node{t: t, dataDir: t.TempDir(), log: &testenv.SyncBuffer{}, done: make(chan error, 1),
		env: []string{"SESSIOND_SERVER_SHUTDOWN_DELAY=0s", "SESSIOND_API_KEY=logpipe-test-key-0123456789abcdefghij"}}
	n.cmd = exec.Command(binary(t), "serve", "--listen", "127.0.0.1:0", "--data", n.dataDir)
	n.cmd.Env = append(cleanEnv(), n.env...)
	n.cmd.Stderr = w
	if err := n.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	w.Close() // the child holds the only write end
	go func() { n.done <- n.cmd.Wait() }()
	t.Cleanup(func() { n.kill(); r.Close() })
	// Read byte by byte up to the serving line, so that nothing after it
	// is taken from the pipe: the test's reader starts there.
	addrc := make(chan string, 1)
	go func() {
		var line []byte
		b := make([]byte, 1)
		for {
			if _, err := r.Read(b); err != nil {
				close(addrc)
				return
			}
			n.log.Write(b)
			if b[0] != '\n' {
				line = append(line, b[0])
				continue
			}
			var rec struct{ Msg, Addr string }
			if json.Unmarshal(line, &rec) == nil && rec.Msg == "sessiond serving" {
				addrc <- rec.Addr
				return
			}
			line = line[:0]
		}
	}()
	select {
	case addr, ok := <-addrc:
		if !ok {
			t.Fatalf("sessiond exited before serving\n%s", n.log.String())
		}
		n.addr, n.url = addr, "http://"+addr
	case <-time.After(30 * time.Second):
		t.Fatalf("sessiond did not start in 30s\n%s", n.log.String())
	}
	return n, r
}

// verifyMany logs in once and verifies n times; it fails the test on any
// error, or when the requests do not finish within a minute (they wait
// on something they should not).
func verifyMany(t *testing.T, nd *node, n int) {
	t.Helper()
	c := nd.client()
	finished := make(chan error, 1)
	go func() {
		ctx := context.Background()
		login, err := c.CreateSession(ctx, client.CreateRequest{Subject: "logpipe"})
		if err != nil {
			finished <- err
			return
		}
		for range n {
			if _, err := c.Verify(ctx, login.AccessToken, nil); err != nil {
				finished <- err
				return
			}
		}
		finished <- nil
	}()
	select {
	case err := <-finished:
		if err != nil {
			t.Fatalf("a request failed: %v", err)
		}
	case <-time.After(time.Minute):
		t.Fatalf("%d verifies not answered within a minute: requests wait for the log", n)
	}
}

// TestServe_LogReaderGone: the process reading serve's stderr goes away
// (a log shipper restarted, `serve 2>&1 | head`). serve goes on answering
// and stops gracefully on SIGTERM (exit 0). Before, the first log write
// to the broken pipe killed the process with SIGPIPE.
func TestServe_LogReaderGone(t *testing.T) {
	n, r := startPiped(t)
	r.Close()
	verifyMany(t, n, 50)
	// The graceful stop writes the lines still buffered, to the broken
	// pipe at the latest there.
	n.stop()
}

// TestServe_LogReaderStalls: the reader of serve's stderr stops reading
// (a pipe nobody reads). Requests go on being answered: the log drops
// the lines it cannot hold, counts them, and reports the count once the
// reader reads again. Before, every request that logged waited for the
// stalled reader, for ever.
func TestServe_LogReaderStalls(t *testing.T) {
	n, r := startPiped(t)
	// Some 350 bytes a request line: far more than the pipe (64 KiB) and
	// the log's buffer (1 MiB) hold.
	verifyMany(t, n, 6000)
	go io.Copy(n.log, r) // the reader reads again
	eventually(t, 30*time.Second, `the line "log lines lost"`, func() bool {
		return strings.Contains(n.log.String(), `"msg":"log lines lost"`)
	})
	n.stop()
	for _, line := range strings.Split(n.log.String(), "\n") {
		if !strings.Contains(line, `"msg":"log lines lost"`) {
			continue
		}
		var rec struct {
			Level  string
			Lines  int
			Reason string
		}
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("not a JSON line: %q", line)
		}
		if rec.Level != "WARN" || rec.Lines <= 0 || rec.Reason == "" {
			t.Errorf("report %q; want WARN, a count and a reason", line)
		}
	}
}

// TestServe_SIGHUPIgnored: SIGHUP (a terminal closed, a supervisor's
// reload) neither stops serve nor cuts its requests: serve has no reload,
// so it logs the signal as ignored and goes on serving; SIGTERM still
// stops it gracefully. Before, SIGHUP ended the process at once, without
// the graceful stop (exit by signal, buffered log lines lost).
func TestServe_SIGHUPIgnored(t *testing.T) {
	n := startNode(t, nodeConfig{})
	if err := n.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, "the line saying SIGHUP was ignored", func() bool {
		select {
		case err := <-n.done:
			t.Fatalf("sessiond exited after SIGHUP: %v", err)
		default:
		}
		return strings.Contains(n.log.String(), "SIGHUP ignored")
	})
	verifyMany(t, n, 10)
	n.stop()
}
