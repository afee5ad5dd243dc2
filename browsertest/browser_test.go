// Package browsertest runs the end-to-end browser tests of the demo app
// (examples/webapp) in headless Chromium. The scenarios are in
// e2e.test.mjs (node:test + playwright-core); this Go test builds and
// starts the app with short lifetimes and runs them, so `go test ./...`
// covers the browser too. See docs/browser.md.
package browsertest

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"github.com/sessiond/sessiond/internal/testenv"
)

// Short lifetimes keep the run short: the client refreshes 5 s before a
// 20 s access token expires, so one refresh cycle is watched in ~20 s.
// The reuse interval is off: any second use of a refresh token revokes the
// session, so only the client's cross-tab lock keeps two tabs logged in.
const (
	accessTTL     = 20 * time.Second
	refreshBefore = 5 * time.Second
	idleTimeout   = 2 * time.Minute
)

func TestBrowser(t *testing.T) {
	node, chromium := requirements(t)

	ctx, cancel := testenv.BeforeDeadline(t) // a hang is cut, and logged, before the binary's own deadline
	defer cancel()
	bin := filepath.Join(t.TempDir(), "webapp")
	build := exec.CommandContext(ctx, "go", "build", "-o", bin, "github.com/sessiond/sessiond/examples/webapp")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build examples/webapp: %v\n%s", err, out)
	}

	base, appLog := startApp(t, ctx, bin,
		"--listen", "127.0.0.1:0",
		"--insecure-dev-cookies",
		"--test-endpoints",
		"--access-ttl", accessTTL.String(),
		"--refresh-before", refreshBefore.String(),
		"--idle-timeout", idleTimeout.String(),
		"--reuse-interval=-1s",
	)

	results := testenv.ResultsDir()
	err := testenv.NodeTest(t, ctx, node, "e2e.test.mjs",
		"SESSIOND_WEBAPP_URL="+base,
		"SESSIOND_CHROMIUM="+chromium,
		"SESSIOND_TEST_RESULTS="+results,
		fmt.Sprintf("SESSIOND_ACCESS_TTL_SECONDS=%d", int(accessTTL/time.Second)),
		fmt.Sprintf("SESSIOND_REFRESH_BEFORE_SECONDS=%d", int(refreshBefore/time.Second)),
		fmt.Sprintf("SESSIOND_IDLE_SECONDS=%d", int(idleTimeout/time.Second)),
	)
	if err != nil {
		t.Errorf("browser tests failed: %v\napp log:\n%s", err, appLog())
	}
	if _, err := os.Stat(filepath.Join(results, "devices.png")); err != nil {
		t.Errorf("no screenshot of the devices page: %v", err)
	}
}

// requirements skips the test with -short; otherwise it finds node,
// Chromium and playwright-core, and skips the test (fails it with
// SESSIOND_TEST_REQUIRE=1) when one is missing.
func requirements(t *testing.T) (node, chromium string) {
	t.Helper()
	if testing.Short() {
		t.Skip("browser tests are skipped with -short")
	}
	return testenv.Browser(t, "browser tests", "browsertest", "playwright-core")
}

// startApp starts the demo and returns its base URL, read from the line
// it prints once listening, and a function returning its log so far.
func startApp(t *testing.T, ctx context.Context, bin string, args ...string) (string, func() string) {
	t.Helper()
	cmd := exec.CommandContext(ctx, bin, args...)
	var logBuf testenv.SyncBuffer
	cmd.Stderr = &logBuf
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
	cmd.WaitDelay = 5 * time.Second
	if err := cmd.Start(); err != nil {
		t.Fatalf("start webapp: %v", err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		_ = cmd.Wait()
	})

	found := make(chan string, 1)
	go func() {
		re := regexp.MustCompile(`listening on (http://\S+)`)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if m := re.FindStringSubmatch(sc.Text()); m != nil {
				found <- m[1]
				break
			}
		}
		_, _ = io.Copy(io.Discard, stdout)
	}()
	select {
	case base := <-found:
		return base, logBuf.String
	case <-time.After(30 * time.Second):
		t.Fatalf("the webapp did not start in 30s; log:\n%s", logBuf.String())
	case <-ctx.Done():
		t.Fatalf("the webapp did not start: %v; log:\n%s", ctx.Err(), logBuf.String())
	}
	return "", nil
}
