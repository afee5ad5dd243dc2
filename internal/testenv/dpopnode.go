package testenv

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// DPoPNode runs script (proofs.mjs, bound.mjs) from dpop/testdata/node,
// where the npm dpop package (an implementation written independently of
// ours) is installed, and returns the JSON object it prints. Without node
// or the package it skips, or fails under SESSIOND_TEST_REQUIRE=1.
func DPoPNode(tb testing.TB, script string, args ...string) map[string]string {
	tb.Helper()
	node := Node(tb, "proofs by the npm dpop package", "dpop/testdata/node", "dpop")
	cmd := exec.CommandContext(tb.Context(), node, append([]string{script}, args...)...)
	cmd.Dir = filepath.Join(RepoRoot(), "dpop", "testdata", "node")
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		tb.Fatalf("node %s: %v", script, err)
	}
	var m map[string]string
	if err := json.Unmarshal(out, &m); err != nil {
		tb.Fatalf("%s output: %v", script, err)
	}
	return m
}
