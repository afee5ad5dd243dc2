// Package node_test runs the Node verifier's own tests (node --test, the
// runner built into Node.js) against a real sessiond server started in
// this process, so `go test ./...` covers the npm package too.
package node_test

import (
	"os"
	"os/exec"
	"testing"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/internal/server"
	"github.com/sessiond/sessiond/internal/servertest"

	"github.com/sessiond/sessiond/internal/testenv"
)

const apiKey = "sdak_node_verifier_test_0123456789abcdefghijk"

func TestNodeVerifier(t *testing.T) {
	if testing.Short() {
		t.Skip("runs Node.js")
	}
	node := testenv.Node(t, "the Node.js verifier test", "sdk/node", "jose")
	if out, err := exec.Command(node, "node_modules/typescript/bin/tsc", "-p", "tsconfig.json").CombinedOutput(); err != nil {
		t.Fatalf("tsc: %v\n%s", err, out)
	}

	cfg := servertest.Config(t)
	cfg.Strategy = sessiond.StrategyHybrid
	// Set explicitly: the defaults are unique to the deployment, and the
	// verifier must be told them.
	cfg.JWT.Issuer, cfg.JWT.Audience = "https://sessiond.test", "node-verifier-test"
	url := servertest.Run(t, server.Options{Config: cfg, APIKey: apiKey})

	cmd := exec.Command(node, "--test", "--test-reporter=spec", "test/")
	cmd.Env = append(os.Environ(), "SESSIOND_URL="+url, "SESSIOND_API_KEY="+apiKey,
		"SESSIOND_ISSUER="+cfg.JWT.Issuer, "SESSIOND_AUDIENCE="+cfg.JWT.Audience, "NO_COLOR=1")
	out, err := cmd.CombinedOutput()
	t.Logf("node --test:\n%s", out)
	if err != nil {
		t.Fatalf("node --test: %v", err)
	}
}
