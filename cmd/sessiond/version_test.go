package main

import (
	"encoding/json"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestVersion: `version` and `--version` print what the build recorded,
// not a fixed "dev"; a release build's -ldflags values win.
func TestVersion(t *testing.T) {
	t.Parallel()
	out, _, code := runCLI(t, nil, "--version")
	if code != 0 || !strings.HasPrefix(out, "sessiond ") || out == "sessiond dev\n" {
		t.Errorf("sessiond --version = exit %d, %q; want exit 0 and the build's version", code, out)
	}
	out, _, code = runCLI(t, nil, "version")
	for _, want := range []string{"revision:", "commit time:", "build time:", "go:"} {
		if code != 0 || !strings.Contains(out, want) {
			t.Errorf("sessiond version = exit %d, %q; want a %q line", code, out, want)
		}
	}

	if testing.Short() {
		return
	}
	bin := filepath.Join(t.TempDir(), "sessiond")
	ldflags := "-X main.version=v9.8.7 -X main.buildTime=2026-12-03T12:00:00Z"
	if b, err := exec.Command("go", "build", "-ldflags", ldflags, "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, b)
	}
	b, err := exec.Command(bin, "version", "--json").Output()
	if err != nil {
		t.Fatal(err)
	}
	var got build
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatalf("version --json = %q: %v", b, err)
	}
	if got.Version != "v9.8.7" || got.BuildTime != "2026-12-03T12:00:00Z" || got.Go == "" || got.Platform == "" {
		t.Errorf("version --json of a release build = %+v; want v9.8.7 built 2026-12-03T12:00:00Z", got)
	}
	b, err = exec.Command(bin, "--version").Output()
	if err != nil || !strings.HasPrefix(string(b), "sessiond v9.8.7") {
		t.Errorf("--version of a release build = %q, %v", b, err)
	}
}

// TestHealthcheck: the container health check answers 0 on a ready server
// and 1 when nothing listens.
func TestHealthcheck(t *testing.T) {
	n := startNode(t, nodeConfig{})
	if out, errOut, code := runCLI(t, []string{"SESSIOND_URL=" + n.url}, "healthcheck"); code != 0 || out != "ready\n" {
		t.Errorf("healthcheck of a ready server = %d %q %q", code, out, errOut)
	}
	if _, errOut, code := runCLI(t, nil, "healthcheck", "--listen", n.addr); code != 0 {
		t.Errorf("healthcheck --listen %s = %d %q", n.addr, code, errOut)
	}
	n.stop()
	if _, errOut, code := runCLI(t, []string{"SESSIOND_URL=" + n.url}, "healthcheck", "--timeout", "2s"); code != 1 || !strings.Contains(errOut, "not ready") {
		t.Errorf("healthcheck of a stopped server = %d %q; want 1, not ready", code, errOut)
	}
}
