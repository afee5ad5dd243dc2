// Package consoletest runs the operator console (internal/console) in
// headless Chromium against a real `sessiond serve` on SQLite: the
// scenarios are in console.test.mjs (node:test + playwright-core +
// axe-core); this Go test starts the server in-process and runs them, so
// `go test ./...` covers the console in a browser. Screenshots land in
// consoletest/test-results/ (SESSIOND_TEST_RESULTS overrides); to refresh
// the ones docs/console.md shows, run with SESSIOND_TEST_RESULTS=../docs/console.
package consoletest

import (
	"context"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sessiond/sessiond/internal/config"
	"github.com/sessiond/sessiond/internal/server"
)

const apiKey = "sdak_consoletest_0123456789abcdefghijklmnopqrstuvwxyz"

func TestConsoleInChromium(t *testing.T) {
	if testing.Short() {
		t.Skip("browser tests are skipped with -short")
	}
	node, chromium := requirements(t)
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()

	cfg := config.Default()
	cfg.Environment = config.EnvDevelopment
	cfg.Server.Listen = "127.0.0.1:0"
	cfg.Server.DataDir = t.TempDir()
	cfg.Store.Driver = "sqlite"
	addr := make(chan string, 1)
	done := make(chan error, 1)
	srvCtx, stop := context.WithCancel(context.Background())
	go func() {
		done <- server.Run(srvCtx, server.Options{Config: cfg, APIKey: apiKey, Version: "consoletest",
			Logger: slog.New(slog.DiscardHandler), Listening: func(a string) { addr <- a }})
	}()
	t.Cleanup(func() { stop(); <-done })
	var base string
	select {
	case a := <-addr:
		// localhost: a secure context over plain HTTP, so the browser keeps
		// the console's Secure __Host- cookie.
		base = "http://localhost:" + a[strings.LastIndex(a, ":")+1:]
	case err := <-done:
		t.Fatalf("server did not start: %v", err)
	}

	results := "test-results"
	if dir := os.Getenv("SESSIOND_TEST_RESULTS"); dir != "" {
		results = dir
	}
	results, _ = filepath.Abs(results)
	run := exec.CommandContext(ctx, node, "--test", "--test-reporter=spec", "console.test.mjs")
	run.Env = append(os.Environ(),
		"SESSIOND_URL="+base,
		"SESSIOND_API_KEY="+apiKey,
		"SESSIOND_CHROMIUM="+chromium,
		"SESSIOND_TEST_RESULTS="+results,
	)
	run.WaitDelay = 10 * time.Second
	out, err := run.CombinedOutput()
	t.Logf("node --test console.test.mjs:\n%s", out)
	if err != nil {
		t.Errorf("console browser tests failed: %v", err)
	}
}

// requirements finds node, Chromium and the npm packages, and skips the
// test (fails it with SESSIOND_TEST_REQUIRE=1) when one is missing.
func requirements(t *testing.T) (node, chromium string) {
	t.Helper()
	var missing []string
	node, err := exec.LookPath("node")
	if err != nil {
		missing = append(missing, "node")
	}
	chromium = os.Getenv("SESSIOND_CHROMIUM")
	if chromium == "" {
		chromium = "/usr/bin/chromium"
	}
	if _, err := os.Stat(chromium); err != nil {
		missing = append(missing, chromium+" (apt-get install -y chromium)")
	}
	for _, pkg := range []string{"playwright-core", "axe-core"} {
		if _, err := os.Stat(filepath.Join("node_modules", pkg, "package.json")); err != nil {
			missing = append(missing, "consoletest/node_modules/"+pkg+" (npm ci --prefix consoletest)")
		}
	}
	if len(missing) > 0 {
		msg := "console browser tests need " + strings.Join(missing, ", ")
		if os.Getenv("SESSIOND_TEST_REQUIRE") == "1" {
			t.Fatal(msg + " (SESSIOND_TEST_REQUIRE=1)")
		}
		t.Skip(msg)
	}
	return node, chromium
}
