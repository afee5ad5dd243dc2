package sessiond_test

import (
	"fmt"
	"io"
	"os"
	"strings"
	"testing"
)

// TestMain says, where a developer sees it, when the PostgreSQL and Redis
// suites are skipped. `go test ./...` shows a passing package's output
// only with -v, so a skip would otherwise look like a pass: the notice goes
// to the terminal (/dev/tty) when there is one, else to stderr. (A cached
// result, "(cached)", prints nothing: go test -count=1 runs it again.)
func TestMain(m *testing.M) {
	code := m.Run()
	var missing []string
	for _, v := range []struct{ env, suite string }{
		{"SESSIOND_TEST_POSTGRES_URL", "PostgreSQL"},
		{"SESSIOND_TEST_REDIS_URL", "Redis"},
	} {
		if os.Getenv(v.env) == "" {
			missing = append(missing, fmt.Sprintf("%s (%s unset)", v.suite, v.env))
		}
	}
	if len(missing) > 0 {
		var w io.Writer = os.Stderr
		if tty, err := os.OpenFile("/dev/tty", os.O_WRONLY, 0); err == nil {
			defer tty.Close()
			w = tty
		}
		fmt.Fprintf(w, "sessiond: NOTE: the %s suites were SKIPPED in every package: "+
			"set the variables to run them (see README, \"Tests against PostgreSQL and Redis\")\n",
			strings.Join(missing, " and "))
	}
	os.Exit(code)
}
