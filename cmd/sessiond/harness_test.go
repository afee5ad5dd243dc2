package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/client"

	"github.com/sessiond/sessiond/internal/testenv"
)

// The end-to-end tests build the real binary once (testenv.Sessiond) and
// run it as a child process on a free port with a temporary data
// directory; a child's stderr (its JSON log) goes to a testenv.SyncBuffer.
func binary(t testing.TB) string {
	t.Helper()
	return testenv.Sessiond(t)
}

// node is one running `sessiond serve`.
type node struct {
	t       testing.TB
	cmd     *exec.Cmd
	addr    string
	url     string
	dataDir string
	env     []string
	log     *testenv.SyncBuffer
	done    chan error
}

// nodeConfig describes how to start a node.
type nodeConfig struct {
	dataDir string   // reused across restarts; a temp dir if empty
	env     []string // extra SESSIOND_* settings
	yaml    string   // config file content, if any
	args    []string // extra serve flags
}

// hasFlag reports whether args give flag, as "--flag value" or
// "--flag=value".
func hasFlag(args []string, flag string) bool {
	return slices.ContainsFunc(args, func(a string) bool { return a == flag || strings.HasPrefix(a, flag+"=") })
}

func startNode(t testing.TB, nc nodeConfig) *node {
	t.Helper()
	bin := binary(t)
	if nc.dataDir == "" {
		nc.dataDir = t.TempDir()
	}
	// The defaults unless the test names its own: serve refuses a flag
	// given twice.
	args := []string{"serve"}
	if !hasFlag(nc.args, "--listen") {
		args = append(args, "--listen", "127.0.0.1:0")
	}
	if !hasFlag(nc.args, "--data") {
		args = append(args, "--data", nc.dataDir)
	}
	if nc.yaml != "" {
		p := testenv.WriteFile(t, t.TempDir(), "sessiond.yaml", nc.yaml)
		args = append(args, "--config", p)
	}
	args = append(args, nc.args...)
	n := &node{t: t, dataDir: nc.dataDir, env: nc.env, log: &testenv.SyncBuffer{}, done: make(chan error, 1)}
	n.cmd = exec.Command(bin, args...)
	// No load balancer to wait for: stop at once, unless the test sets
	// server.shutdown_delay itself.
	if !slices.ContainsFunc(nc.env, func(kv string) bool { return strings.HasPrefix(kv, "SESSIOND_SERVER_SHUTDOWN_DELAY=") }) &&
		!strings.Contains(nc.yaml, "shutdown_delay") {
		n.env = append(slices.Clip(nc.env), "SESSIOND_SERVER_SHUTDOWN_DELAY=0s")
	}
	n.cmd.Env = append(cleanEnv(), n.env...)
	pr, pw := io.Pipe()
	n.cmd.Stderr = io.MultiWriter(n.log, pw)
	if err := n.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { n.done <- n.cmd.Wait(); pw.Close() }()
	addrc := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(pr)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			var line struct {
				Msg  string `json:"msg"`
				Addr string `json:"addr"`
			}
			if json.Unmarshal(sc.Bytes(), &line) == nil && line.Msg == "sessiond serving" {
				addrc <- line.Addr
			}
		}
		io.Copy(io.Discard, pr)
	}()
	select {
	case n.addr = <-addrc:
	case err := <-n.done:
		t.Fatalf("sessiond exited before serving: %v\n%s", err, n.log.String())
	case <-time.After(30 * time.Second):
		n.cmd.Process.Kill()
		t.Fatalf("sessiond did not start in 30s\n%s", n.log.String())
	}
	n.url = "http://" + n.addr
	t.Cleanup(func() { n.kill() })
	return n
}

// cleanEnv is the test's environment without SESSIOND_ settings, so a
// developer's shell cannot change what the child does.
func cleanEnv() []string {
	var out []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "SESSIOND_") {
			out = append(out, kv)
		}
	}
	return out
}

// stop sends SIGTERM and waits for a clean exit.
func (n *node) stop() {
	n.t.Helper()
	if n.cmd.ProcessState != nil {
		return
	}
	_ = n.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-n.done:
		if err != nil {
			n.t.Errorf("sessiond exited with %v after SIGTERM\n%s", err, n.log.String())
		}
	case <-time.After(30 * time.Second):
		n.cmd.Process.Kill()
		n.t.Fatal("sessiond did not stop within 30s of SIGTERM")
	}
}

func (n *node) kill() {
	if n.cmd.ProcessState == nil {
		_ = n.cmd.Process.Kill()
		<-n.done
	}
}

// apiKey is the key the node generated on first start, or SESSIOND_API_KEY.
func (n *node) apiKey() sessiond.Secret {
	n.t.Helper()
	for _, kv := range n.env {
		if k, v, ok := strings.Cut(kv, "="); ok && k == "SESSIOND_API_KEY" {
			return sessiond.Secret(v)
		}
	}
	b, err := os.ReadFile(filepath.Join(n.dataDir, "api-key"))
	if err != nil {
		n.t.Fatalf("api-key file: %v", err)
	}
	return sessiond.Secret(strings.TrimSpace(string(b)))
}

func (n *node) client() *client.Client {
	n.t.Helper()
	c, err := client.New(n.url, n.apiKey())
	if err != nil {
		n.t.Fatal(err)
	}
	return c
}

// cli runs the binary with args against this node's data and URL and
// returns its stdout, stderr and exit code.
func (n *node) cli(args ...string) (string, string, int) {
	n.t.Helper()
	return runCLI(n.t, append(n.env, "SESSIOND_URL="+n.url, "SESSIOND_DATA="+n.dataDir), args...)
}

func runCLI(t testing.TB, env []string, args ...string) (string, string, int) {
	t.Helper()
	cmd := exec.Command(binary(t), args...)
	cmd.Env = append(cleanEnv(), env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return stdout.String(), stderr.String(), code
}

// storeBackends are the stores the end-to-end tests run on: sqlite always,
// PostgreSQL and Redis when their URLs are set (required in CI).
type backend struct {
	name string
	env  func(t testing.TB) []string // settings for one isolated deployment
}

func backends(t testing.TB) []backend {
	out := []backend{{"sqlite", func(testing.TB) []string { return nil }}}
	if u := os.Getenv("SESSIOND_TEST_POSTGRES_URL"); u != "" {
		out = append(out, backend{"postgres", func(t testing.TB) []string {
			return []string{"SESSIOND_STORE_DRIVER=postgres", "SESSIOND_STORE_DSN=" + u, "SESSIOND_STORE_NAMESPACE=" + testenv.PostgresSchema(t, u, "e2e")}
		}})
	} else {
		testenv.Unset(t, "SESSIOND_TEST_POSTGRES_URL", "end-to-end tests on that store are skipped")
	}
	if u := os.Getenv("SESSIOND_TEST_REDIS_URL"); u != "" {
		out = append(out, backend{"redis", func(t testing.TB) []string {
			ns := testenv.UniqueName("e2e")
			t.Cleanup(func() { testenv.DeleteRedisPrefix(t, u, ns) })
			return []string{"SESSIOND_STORE_DRIVER=redis", "SESSIOND_STORE_DSN=" + u, "SESSIOND_STORE_NAMESPACE=" + ns}
		}})
	} else {
		testenv.Unset(t, "SESSIOND_TEST_REDIS_URL", "end-to-end tests on that store are skipped")
	}
	return out
}

// eventually polls cond until it holds or the deadline passes.
func eventually(t testing.TB, within time.Duration, what string, cond func() bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	for !cond() {
		select {
		case <-ctx.Done():
			t.Fatalf("%s: not within %v", what, within)
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// awaitBodyRead waits on c for the "100 Continue" net/http sends at the
// handler's first read of a body announced with "Expect: 100-continue":
// from then on the request is in its handler, waiting for the body. A
// pause instead would let a slow machine signal the node before it read
// the request at all.
func awaitBodyRead(t testing.TB, c net.Conn, br *bufio.Reader) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(30 * time.Second))
	defer c.SetReadDeadline(time.Time{})
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("waiting for the handler to read the body: %v", err)
	}
	if resp.StatusCode != http.StatusContinue {
		t.Fatalf("answer before the body was sent = %d; want 100 Continue", resp.StatusCode)
	}
}

// runInProcess runs the CLI in this process with exactly env as its
// environment.
func runInProcess(env []string, args ...string) (string, string, int) {
	var out, errb bytes.Buffer
	code := run(args, &out, &errb, env)
	return out.String(), errb.String(), code
}
