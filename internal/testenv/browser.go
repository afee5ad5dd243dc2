package testenv

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// DefaultChromium is Debian's chromium package.
const DefaultChromium = "/usr/bin/chromium"

// Browser finds node and Chromium (SESSIOND_CHROMIUM, else
// DefaultChromium) and checks that each npm package in pkgs is installed
// in dir/node_modules (dir relative to the repository's root); it skips tb (fails it when
// Required) naming whatever is missing. what names the tests in the
// message.
func Browser(tb testing.TB, what, dir string, pkgs ...string) (node, chromium string) {
	tb.Helper()
	var missing []string
	node, err := exec.LookPath("node")
	if err != nil {
		missing = append(missing, "node (apt-get install -y nodejs)")
	}
	chromium = os.Getenv("SESSIOND_CHROMIUM")
	if chromium == "" {
		chromium = DefaultChromium
	}
	if _, err := os.Stat(chromium); err != nil {
		missing = append(missing, chromium+" (apt-get install -y chromium)")
	}
	missing = append(missing, NodeModules(dir, pkgs...)...)
	Missing(tb, what, missing...)
	return node, chromium
}

// Node finds node and checks that each npm package in pkgs is installed in
// dir/node_modules (dir relative to the repository's root); it skips tb
// (fails it when Required) naming whatever is missing.
func Node(tb testing.TB, what, dir string, pkgs ...string) string {
	tb.Helper()
	var missing []string
	node, err := exec.LookPath("node")
	if err != nil {
		missing = append(missing, "node (apt-get install -y nodejs)")
	}
	missing = append(missing, NodeModules(dir, pkgs...)...)
	Missing(tb, what, missing...)
	return node
}

// NodeModules returns, for each npm package of pkgs not installed in
// dir/node_modules (dir relative to the repository's root, e.g.
// browsertest), what to run to install it.
func NodeModules(dir string, pkgs ...string) []string {
	root := RepoRoot()
	var missing []string
	for _, pkg := range pkgs {
		if _, err := os.Stat(filepath.Join(root, dir, "node_modules", pkg, "package.json")); err != nil {
			missing = append(missing, dir+"/node_modules/"+pkg+" (npm ci --prefix "+dir+")")
		}
	}
	return missing
}

// RepoRoot returns the repository's root: the nearest folder at or above
// the current one that holds go.mod ("." if there is none).
func RepoRoot() string {
	dir, err := os.Getwd()
	if err != nil {
		return "."
	}
	for d := dir; ; {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			return d
		}
		parent := filepath.Dir(d)
		if parent == d {
			return "."
		}
		d = parent
	}
}

// ResultsDir is where browser tests save screenshots: SESSIOND_TEST_RESULTS
// if set, else ./test-results, as an absolute path.
func ResultsDir() string {
	dir := filepath.Join(".", "test-results")
	if d := os.Getenv("SESSIOND_TEST_RESULTS"); d != "" {
		dir = d
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return dir
	}
	return abs
}

// NodeTest runs `node --test --test-reporter=spec script` in the current
// folder with env added to the environment, logs its output and how long
// it took, and returns its error.
func NodeTest(tb testing.TB, ctx context.Context, node, script string, env ...string) error {
	tb.Helper()
	run := exec.CommandContext(ctx, node, "--test", "--test-reporter=spec", script)
	run.Env = append(os.Environ(), env...)
	run.WaitDelay = 10 * time.Second
	start := time.Now()
	out, err := run.CombinedOutput()
	tb.Logf("node --test %s (%s):\n%s", script, time.Since(start).Round(time.Second), out)
	return err
}

// deadlineMargin is what BeforeDeadline leaves before the test binary's
// deadline: for NodeTest's WaitDelay, its log and the test's cleanup.
const deadlineMargin = 30 * time.Second

// BeforeDeadline returns t's context, ended deadlineMargin before the test
// binary's deadline (go test -timeout, 10 minutes by default) where it has
// one: the hang guard for a child process that runs many steps, each
// waiting for its event under its own timeout (a Playwright wait fails
// after 30 s, naming the step). Such a run takes as long as the machine
// is slow; a fixed bound on it (3 minutes) failed a passing run on a
// loaded machine. Cut here, the child's output is still logged, where the
// binary's alarm would only panic.
func BeforeDeadline(t interface {
	Context() context.Context
	Deadline() (time.Time, bool)
}) (context.Context, context.CancelFunc) {
	d, ok := t.Deadline()
	if !ok {
		return context.WithCancel(t.Context())
	}
	return context.WithDeadline(t.Context(), d.Add(-deadlineMargin))
}
