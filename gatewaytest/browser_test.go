package gatewaytest

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

const defaultChromium = "/usr/bin/chromium"

// testBrowser runs browser.test.mjs in Node with headless Chromium
// against both proxies of st.
func testBrowser(t *testing.T, ctx context.Context, st *stack) {
	node, err := exec.LookPath("node")
	chromium := os.Getenv("SESSIOND_CHROMIUM")
	if chromium == "" {
		chromium = defaultChromium
	}
	pw, _ := filepath.Abs(filepath.Join("..", "browsertest", "package.json"))
	var missing []string
	if err != nil {
		missing = append(missing, "node")
	}
	if _, err := os.Stat(chromium); err != nil {
		missing = append(missing, chromium+" (apt-get install -y chromium)")
	}
	if _, err := os.Stat(filepath.Join(filepath.Dir(pw), "node_modules", "playwright-core", "package.json")); err != nil {
		missing = append(missing, "browsertest/node_modules/playwright-core (npm ci --prefix browsertest)")
	}
	if len(missing) > 0 {
		msg := fmt.Sprintf("the Chromium gateway tests need %v", missing)
		if os.Getenv("SESSIOND_TEST_REQUIRE") == "1" {
			t.Fatal(msg + " (SESSIOND_TEST_REQUIRE=1)")
		}
		t.Skip(msg)
	}
	proxies, _ := json.Marshal(st.proxies)
	run := exec.CommandContext(ctx, node, "--test", "--test-reporter=spec", "browser.test.mjs")
	run.Env = append(os.Environ(),
		"SESSIOND_PROXIES="+string(proxies),
		"SESSIOND_API="+st.sessiond,
		"SESSIOND_API_KEY="+apiKey,
		"SESSIOND_CHROMIUM="+chromium,
		"SESSIOND_PLAYWRIGHT_FROM="+pw,
		fmt.Sprintf("SESSIOND_EXPIRY_WAIT_MS=%d", (accessTTL+leeway+time.Second).Milliseconds()),
	)
	run.WaitDelay = 10 * time.Second
	start := time.Now()
	out, err := run.CombinedOutput()
	t.Logf("node --test browser.test.mjs (%s):\n%s", time.Since(start).Round(time.Second), out)
	if err != nil {
		t.Errorf("browser tests failed: %v", err)
	}
}
