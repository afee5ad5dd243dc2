package main

import (
	"regexp"
	"strings"
	"testing"

	"github.com/sessiond/sessiond/internal/redisclustertest"
)

// TestCLI_ReplicaWarning: keys and apikey open the store themselves. On a
// Redis whose replica is down, a change they make that waits for a
// replica (the API key set, the signing key ring) holds on the master
// only once the wait times out, and redisstore warns of it; the CLI
// discarded the warning, so the operator got no word that a failover
// would undo the change (a revoked API key valid again). The warning is
// printed on stderr, as one line of text; stdout and the exit code are as
// without it.
func TestCLI_ReplicaWarning(t *testing.T) {
	pair := redisclustertest.StartPair(t)
	withWait := func(wait string) []string {
		return []string{"SESSIOND_STORE_DRIVER=redis", "SESSIOND_STORE_DSN=" + pair.URL(),
			"SESSIOND_STORE_NAMESPACE=clireplica", "SESSIOND_STORE_REVOCATION_WAIT=" + wait}
	}
	// The store made with the replica running: nothing to warn of. A wait
	// long enough for a replica on a busy machine: with 20 ms one that was
	// slow to answer was warned of.
	for _, args := range [][]string{{"keys", "list", "--create"}, {"apikey", "create", "--name", "first"}} {
		if out, errOut, code := runInProcess(withWait("10s"), args...); code != 0 || strings.Contains(errOut, "warning") {
			t.Fatalf("sessiond %v with the replica running = exit %d, %q %q; want 0 and no warning", args, code, out, errOut)
		}
	}

	pair.Stop()
	defer pair.Continue()
	env := withWait("20ms") // the replica stopped: each wait times out
	_, errOut, code := runInProcess(env, "apikey", "create", "--name", "second")
	m := regexp.MustCompile(`created (\S+) `).FindStringSubmatch(errOut)
	if code != 0 || m == nil {
		t.Fatalf("apikey create = exit %d, %q", code, errOut)
	}
	id := m[1]
	if !warned(errOut) {
		t.Errorf("apikey create with the replica stopped: stderr %q; want a warning that the change is not on enough replicas", errOut)
	}
	for _, tt := range []struct {
		args []string
		out  *regexp.Regexp // stdout, as without the warning
	}{
		{[]string{"apikey", "set-scopes", id, "verify"}, regexp.MustCompile(`^` + id + ` now has scopes verify\n$`)},
		{[]string{"apikey", "revoke", id}, regexp.MustCompile(`^revoked ` + id + `\n$`)},
		{[]string{"keys", "rotate"}, rotated},
	} {
		out, errOut, code := runInProcess(env, tt.args...)
		if code != 0 || !tt.out.MatchString(out) {
			t.Errorf("sessiond %v with the replica stopped = exit %d, stdout %q; want 0, %q", tt.args, code, out, tt.out)
		}
		if !warned(errOut) {
			t.Errorf("sessiond %v with the replica stopped: stderr %q; want a warning that the change is not on enough replicas", tt.args, errOut)
		}
	}
}

// warned reports whether stderr holds the store's warning that a change is
// not on enough replicas, each such warning one line of text that starts
// with "warning: " (no log record's time, level or JSON).
func warned(stderr string) bool {
	n := 0
	for line := range strings.Lines(stderr) {
		if !strings.Contains(line, "not on enough replicas") {
			continue
		}
		if !strings.HasPrefix(line, "warning: redisstore: ") || strings.Contains(line, "level=") || strings.Contains(line, "{") {
			return false
		}
		n++
	}
	return n > 0
}
