package sdk_test

import (
	"os"
	"os/exec"
	"testing"
)

// TestScript_BasePath runs basepath_test.mjs: the JS client against the
// routes of the browser gateway (docs/gateway.md).
func TestScript_BasePath(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		if os.Getenv("SESSIOND_TEST_REQUIRE") == "1" {
			t.Fatal("node is not installed (SESSIOND_TEST_REQUIRE=1)")
		}
		t.Skip("node is not installed; skipping the JS unit tests")
	}
	cmd := exec.CommandContext(t.Context(), node, "--test", "basepath_test.mjs")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("node --test basepath_test.mjs: %v\n%s", err, out)
	}
}
