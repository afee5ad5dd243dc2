package gatewaytest

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sessiond/sessiond/internal/testenv"
)

// The example files use these addresses; the test only swaps the ports.
const (
	exampleApp      = "127.0.0.1:8000"
	exampleSessiond = "127.0.0.1:8420"
	exampleNginx    = "127.0.0.1:8080"
	exampleCaddy    = "127.0.0.1:8081"
)

const (
	apiKey   = "sdak_gatewaytest_0123456789abcdefghijklmnopqrstu"
	user     = "alice"
	password = "wonderland"
	// accessTTL is short so the tests cross an access token's expiry; the
	// JWT leeway is 1s.
	accessTTL = 4 * time.Second
	leeway    = time.Second
)

// stack is sessiond, the example app and the proxies, running.
type stack struct {
	sessiond string            // http://host:port of sessiond's API
	proxies  map[string]string // name → base URL of the app through it
	logs     map[string]*testenv.SyncBuffer
}

// need finds the programs the test runs, skipping (failing with
// SESSIOND_TEST_REQUIRE=1) when one is missing.
func need(t *testing.T, progs ...string) map[string]string {
	t.Helper()
	return testenv.Programs(t, "gateway tests", " (apt-get install -y nginx caddy python3)", progs...)
}

func startStack(t *testing.T, ctx context.Context) *stack {
	t.Helper()
	python := need(t, "python3")["python3"]
	return startStackWith(t, ctx, func(st *stack, free func() string) string {
		app := free()
		st.start(t, ctx, "app", []string{"SESSIOND_URL=" + st.sessiond, "SESSIOND_API_KEY=" + apiKey, "APP_USERS=" + user + ":" + password + ",bob:builder,carol:pw-carol,zoë:pw-zoe"},
			python, "../examples/gateway/app.py", "--listen", app)
		waitHTTP(t, ctx, st, "app", "http://"+app+"/")
		return app
	})
}

// startStackWith is sessiond and the two proxies with the shipped
// configurations in front of the app startApp starts (given a way to take
// a free port); it returns the app's host:port.
func startStackWith(t *testing.T, ctx context.Context, startApp func(st *stack, free func() string) string) *stack {
	t.Helper()
	bins := need(t, "nginx", "caddy")
	// Each port is taken just before the process that listens on it
	// starts: the tests of other packages run alongside and take ports
	// too, and a port handed out seconds earlier was once taken by one of
	// them (the proxies then reached a stranger that answered 404).
	free := func() string { return testenv.FreePorts(t, 1)[0] }
	sd := free()
	dir := t.TempDir()
	st := &stack{sessiond: "http://" + sd, proxies: map[string]string{}, logs: map[string]*testenv.SyncBuffer{}}

	bin := testenv.Sessiond(t)
	cfg := filepath.Join(dir, "sessiond.yaml")
	writeFile(t, cfg, fmt.Sprintf(`environment: development
strategy: hybrid
server:
  listen: %s
  data_dir: %s
  shutdown_delay: 0s
store:
  driver: memory
lifetimes:
  access: %s
  idle: 10m
  absolute: 1h
jwt:
  leeway: %s
cookie:
  name: sessiond
  refresh_name: sessiond-refresh
  secure: false
gateway:
  enabled: true
  login_url: /login
  client_ip_header: X-Real-IP
`, sd, filepath.Join(dir, "data"), accessTTL, leeway))
	st.start(t, ctx, "sessiond", []string{"SESSIOND_API_KEY=" + apiKey}, bin, "serve", "--config", cfg, "--insecure-dev")
	waitHTTP(t, ctx, st, "sessiond", st.sessiond+"/healthz")

	app := startApp(st, free)

	ngx := free()
	st.proxies["nginx"] = "http://" + ngx
	ngxDir := filepath.Join(dir, "nginx")
	conf := strings.NewReplacer(exampleApp, app, exampleSessiond, sd, exampleNginx, ngx).Replace(readFile(t, "../examples/gateway/nginx.conf"))
	st.start(t, ctx, "nginx", nil, bins["nginx"], testenv.NginxArgs(t, ngxDir, conf)...)
	waitHTTP(t, ctx, st, "nginx", st.proxies["nginx"]+"/")

	cdyDir := filepath.Join(dir, "caddy")
	caddyfile := filepath.Join(cdyDir, "Caddyfile")
	if err := os.MkdirAll(cdyDir, 0o755); err != nil {
		t.Fatal(err)
	}
	cdy := free()
	st.proxies["caddy"] = "http://" + cdy
	writeFile(t, caddyfile, strings.NewReplacer(exampleApp, app, exampleSessiond, sd, exampleCaddy, cdy).Replace(readFile(t, "../examples/gateway/Caddyfile")))
	st.start(t, ctx, "caddy", []string{"HOME=" + cdyDir, "XDG_DATA_HOME=" + cdyDir, "XDG_CONFIG_HOME=" + cdyDir},
		bins["caddy"], "run", "--config", caddyfile, "--adapter", "caddyfile")
	waitHTTP(t, ctx, st, "caddy", st.proxies["caddy"]+"/")
	return st
}

// start runs a process until the test ends; its output is kept for
// failure messages.
func (st *stack) start(t *testing.T, ctx context.Context, name string, env []string, prog string, args ...string) {
	t.Helper()
	cmd := exec.CommandContext(ctx, prog, args...)
	cmd.Env = append(os.Environ(), env...)
	buf := &testenv.SyncBuffer{}
	st.logs[name] = buf
	cmd.Stdout, cmd.Stderr = buf, buf
	cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
	cmd.WaitDelay = 5 * time.Second
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		_ = cmd.Wait()
	})
}

// waitHTTP waits until url answers at all (any status).
func waitHTTP(t *testing.T, ctx context.Context, st *stack, name, url string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		res, err := http.Get(url)
		if err == nil {
			res.Body.Close()
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("%s does not answer at %s; its output:\n%s", name, url, st.logs[name])
}

// dump logs every process's output, for a failed test.
func (st *stack) dump(t *testing.T) {
	if !t.Failed() {
		return
	}
	for name, buf := range st.logs {
		t.Logf("--- %s output:\n%s", name, tail(buf.String(), 4000))
	}
}

func tail(s string, n int) string {
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return s
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
