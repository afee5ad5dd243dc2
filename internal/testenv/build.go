package testenv

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
)

// builds holds each Go package built by Build in this test process.
var builds sync.Map // import path → *build

type build struct {
	once sync.Once
	path string
	err  error
}

// Build builds the main package pkg (an import path, e.g.
// github.com/sessiond/sessiond/cmd/sessiond) once per test process and
// returns the binary's path. Tests run with -short skip it.
func Build(tb testing.TB, pkg string) string {
	tb.Helper()
	if testing.Short() {
		tb.Skip("builds and runs " + pkg + "; skipped with -short")
	}
	v, _ := builds.LoadOrStore(pkg, &build{})
	b := v.(*build)
	b.once.Do(func() {
		dir, err := os.MkdirTemp("", "sessiond-test-bin")
		if err != nil {
			b.err = err
			return
		}
		b.path = filepath.Join(dir, filepath.Base(pkg))
		if out, err := exec.Command("go", "build", "-o", b.path, pkg).CombinedOutput(); err != nil {
			b.err = fmt.Errorf("go build %s: %v\n%s", pkg, err, out)
		}
	})
	if b.err != nil {
		tb.Fatal(b.err)
	}
	return b.path
}

// Sessiond builds cmd/sessiond once per test process and returns the
// binary's path.
func Sessiond(tb testing.TB) string {
	tb.Helper()
	return Build(tb, "github.com/sessiond/sessiond/cmd/sessiond")
}
