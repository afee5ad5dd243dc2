//go:build unix

package main

// The quick start runs in bash and kills the server's process group:
// Unix only.

import (
	"bytes"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/sessiond/sessiond/internal/testenv"
)

// TestREADME_QuickStart runs the README's "server in five requests" block,
// extracted from README.md, in bash on a fresh copy of the repository: it
// must build, wait for the server, get every answer right and leave no
// file with a token in the work tree. Only the port is changed, so the
// test does not collide with anything on 8420. The build reuses the Go
// build cache for every dependency; only this module's packages compile
// again, since their path differs (-trimpath would miss the cache instead
// for everything, SQLite included, which is far slower).
func TestREADME_QuickStart(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	testenv.Programs(t, "the README quick start", "", "bash", "curl", "jq", "git")
	block := readmeBlock(t, "<!-- quickstart:")
	if !strings.Contains(block, "127.0.0.1:8420") {
		t.Fatal("the quick start no longer names 127.0.0.1:8420; update this test")
	}
	block = strings.ReplaceAll(block, "127.0.0.1:8420", "127.0.0.1:"+strconv.Itoa(testenv.FreePort(t)))

	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	before := copyTree(t, root, dir)

	cmd := exec.Command("bash", "-euo", "pipefail", "-c", block)
	cmd.Dir = dir
	var env []string
	for _, kv := range os.Environ() { // a user's shell, without a test's SESSIOND_* settings
		if !strings.HasPrefix(kv, "SESSIOND_") {
			env = append(env, kv)
		}
	}
	cmd.Env = env
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// Whatever happens, no server outlives the test.
	defer func() { _ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }()
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	// Bounded by the test binary's deadline: the build takes as long as
	// the machine is slow (a fixed 5 minutes failed a loaded CI run).
	wait, cancel := testenv.BeforeDeadline(t)
	defer cancel()
	select {
	case err = <-done:
	case <-wait.Done():
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-done // the buffers are the test's to read once bash has exited
		t.Fatalf("the quick start did not finish (%v)\nstdout:\n%s\nstderr:\n%s", wait.Err(), &stdout, &stderr)
	}
	if err != nil {
		t.Fatalf("the quick start failed: %v\nstdout:\n%s\nstderr:\n%s", err, &stdout, &stderr)
	}
	out := stdout.String()
	for _, want := range []string{`"subject":"alice"`, `"client":{"ip":"203.0.113.5"`, "\n204\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("the quick start's output lacks %q:\n%s", want, out)
		}
	}

	// Nothing new in the work tree but the ignored binary and data directory.
	_ = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		rel = filepath.ToSlash(rel)
		if rel == "sessiond-data" && d.IsDir() {
			return filepath.SkipDir
		}
		if !d.IsDir() && !before[rel] && rel != "sessiond" {
			t.Errorf("the quick start left %s in the work tree", rel)
		}
		return nil
	})
	ignore, err := os.ReadFile(filepath.Join(root, ".gitignore"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"sessiond-data/", "/sessiond"} {
		if !strings.Contains("\n"+string(ignore)+"\n", "\n"+want+"\n") {
			t.Errorf(".gitignore does not list %s", want)
		}
	}
}
