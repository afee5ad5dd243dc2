package sdk_test

import (
	"os/exec"
	"testing"

	"github.com/sessiond/sessiond/internal/testenv"
)

// TestScript_BasePath runs basepath_test.mjs: the JS client against the
// routes of the browser gateway (docs/gateway.md).
func TestScript_BasePath(t *testing.T) {
	node := testenv.Node(t, "the JS unit tests", "sdk")
	cmd := exec.CommandContext(t.Context(), node, "--test", "basepath_test.mjs")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("node --test basepath_test.mjs: %v\n%s", err, out)
	}
}
