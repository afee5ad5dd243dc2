// Package consoletest runs the operator console (internal/console) in
// headless Chromium against a real `sessiond serve`, on SQLite and on
// PostgreSQL: the scenarios are in console.test.mjs (node:test +
// playwright-core + axe-core); this Go test starts the server in-process,
// with a webhook receiver that fails until told to come back, and runs
// them, so `go test ./...` covers the console in a browser. The SQLite run
// saves screenshots to consoletest/test-results/ (SESSIOND_TEST_RESULTS
// overrides); to refresh the ones docs/console.md shows, run with
// SESSIOND_TEST_RESULTS=$PWD/docs/console.
package consoletest

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/sessiond/sessiond/internal/config"
	"github.com/sessiond/sessiond/internal/server"
	"github.com/sessiond/sessiond/internal/servertest"
	"github.com/sessiond/sessiond/sessiondtest"
	"github.com/sessiond/sessiond/webhook"

	"github.com/sessiond/sessiond/internal/testenv"
)

const apiKey = "sdak_consoletest_0123456789abcdefghijklmnopqrstuvwxyz"

// hostileStatus is the reason phrase the receiver answers with while it
// is down: the delivery's last error keeps only the status code and its
// standard text, so none of it may reach the webhooks page.
const hostileStatus = "503 <img src=x onerror=window.__pwned=1>\x1b[31mdown"

func TestConsoleInChromium(t *testing.T) {
	if testing.Short() {
		t.Skip("browser tests are skipped with -short")
	}
	node, chromium := requirements(t)
	t.Run("sqlite", func(t *testing.T) {
		runConsole(t, node, chromium, config.Store{Driver: "sqlite"}, nil, true)
	})
	t.Run("postgres", func(t *testing.T) {
		dsn := sessiondtest.RequireEnv(t, "SESSIOND_TEST_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/test?sslmode=disable")
		// Through a proxy the scenarios can cut: a store outage.
		u, err := url.Parse(dsn)
		if err != nil {
			t.Fatal(err)
		}
		proxy := sessiondtest.NewProxy(t, u.Host)
		through := *u
		through.Host = proxy.Addr()
		runConsole(t, node, chromium, config.Store{Driver: "postgres", DSN: through.String(), Namespace: testenv.PostgresSchema(t, dsn, "console_")}, proxy, false)
	})
}

// runConsole serves sessiond on store and runs the browser scenarios
// against it; shots says whether this run saves screenshots. With proxy
// (the store's way in) the scenarios may stop the store and bring it back.
func runConsole(t *testing.T, node, chromium string, store config.Store, proxy *sessiondtest.Proxy, shots bool) {
	// Each scenario's waits are bounded by Playwright's timeouts; the run
	// as a whole takes as long as the machine is slow (95 s alone, 134 s
	// at a load of 20): bounded by the test binary's deadline only.
	ctx, cancel := testenv.BeforeDeadline(t)
	defer cancel()
	recv := newReceiver(t)
	dir := t.TempDir()
	secretFile := filepath.Join(dir, "webhook.secret")
	key := make([]byte, 32)
	_, _ = rand.Read(key) // a key of one letter is refused (SD-WEBHOOK-006)
	if err := os.WriteFile(secretFile, []byte(webhook.FormatSecret(key)), 0o600); err != nil {
		t.Fatal(err)
	}

	cfg := servertest.Config(t)
	cfg.Server.DataDir = dir
	cfg.Store = store
	// One attempt: the receiver's first failure makes the delivery dead.
	cfg.Webhooks = []config.Webhook{{Name: "receiver", URL: recv.URL + "/hook", Events: []string{"session.revoked"},
		SecretFile: secretFile, MaxAttempts: 1}}
	a := servertest.Run(t, server.Options{Config: cfg, APIKey: apiKey, Version: "consoletest", Logger: slog.New(slog.DiscardHandler)})
	// localhost: a secure context over plain HTTP, so the browser keeps
	// the console's Secure __Host- cookie.
	base := "http://localhost:" + a[strings.LastIndex(a, ":")+1:]

	results := ""
	if shots {
		results = testenv.ResultsDir()
	}
	control, ops := "", make(chan storeOp)
	if proxy != nil {
		control = newStoreControl(t, ops).URL
	}
	done := make(chan error, 1)
	go func() {
		done <- testenv.NodeTest(t, ctx, node, "console.test.mjs",
			"SESSIOND_URL="+base,
			"SESSIOND_API_KEY="+apiKey,
			"SESSIOND_CHROMIUM="+chromium,
			"SESSIOND_TEST_RESULTS="+results,
			"SESSIOND_RECEIVER_URL="+recv.URL,
			"SESSIOND_STORE="+store.Driver,
			"SESSIOND_STORE_CONTROL="+control,
		)
	}()
	// The store is stopped and brought back here, on the test's goroutine
	// (Proxy.Up fails the test if it cannot listen again).
	for {
		select {
		case op := <-ops:
			if op.up {
				proxy.Up(t)
			} else {
				proxy.Down()
			}
			close(op.done)
		case err := <-done:
			if err != nil {
				t.Errorf("console browser tests failed: %v", err)
			}
			return
		}
	}
}

// storeOp asks the test to stop the store (up false) or bring it back.
type storeOp struct {
	up   bool
	done chan struct{}
}

// newStoreControl lets the browser scenarios stop the store (POST /down)
// and bring it back (POST /up): each answers once it is done.
func newStoreControl(t *testing.T, ops chan<- storeOp) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || (r.URL.Path != "/up" && r.URL.Path != "/down") {
			http.NotFound(w, r)
			return
		}
		op := storeOp{up: r.URL.Path == "/up", done: make(chan struct{})}
		select {
		case ops <- op:
		case <-r.Context().Done():
			return
		}
		select {
		case <-op.done:
			w.WriteHeader(http.StatusNoContent)
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

// newReceiver is a webhook receiver that answers 503 (with a hostile
// reason phrase) until POST /up, then 204.
func newReceiver(t *testing.T) *httptest.Server {
	var up atomic.Bool
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.Method == http.MethodPost && r.URL.Path == "/up":
			up.Store(true)
			w.WriteHeader(http.StatusNoContent)
		case r.Method == http.MethodPost && r.URL.Path == "/hook" && up.Load():
			w.WriteHeader(http.StatusNoContent)
		case r.URL.Path == "/hook":
			// net/http writes only standard reason phrases: write the
			// status line by hand.
			conn, buf, err := http.NewResponseController(w).Hijack()
			if err != nil {
				http.Error(w, "down", http.StatusServiceUnavailable)
				return
			}
			defer conn.Close()
			writeRaw(buf, "HTTP/1.1 "+hostileStatus+"\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

func writeRaw(w *bufio.ReadWriter, s string) {
	_, _ = w.WriteString(s)
	_ = w.Flush()
}

// requirements finds node, Chromium and the npm packages, and skips the
// test (fails it with SESSIOND_TEST_REQUIRE=1) when one is missing.
func requirements(t *testing.T) (node, chromium string) {
	t.Helper()
	return testenv.Browser(t, "console browser tests", "consoletest", "playwright-core", "axe-core")
}

// TestVendoredChartLibrary checks that the console's embedded uPlot is the
// npm package this folder pins, byte for byte, licence included: the
// vendored copy cannot drift from the version docs/console.md names.
func TestVendoredChartLibrary(t *testing.T) {
	testenv.Missing(t, "the vendored chart library check", testenv.NodeModules("consoletest", "uplot")...)
	for vendored, npm := range map[string]string{
		"uplot.iife.min.js": "dist/uPlot.iife.min.js",
		"uplot.min.css":     "dist/uPlot.min.css",
		"uplot.LICENSE":     "LICENSE",
	} {
		got, err := os.ReadFile(filepath.Join("..", "internal", "console", "static", vendored))
		if err != nil {
			t.Fatal(err)
		}
		want, err := os.ReadFile(filepath.Join("node_modules", "uplot", npm))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("internal/console/static/%s differs from node_modules/uplot/%s: copy it again", vendored, npm)
		}
	}
}
