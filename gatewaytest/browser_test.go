package gatewaytest

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/sessiond/sessiond/internal/testenv"
)

// testBrowser runs browser.test.mjs in Node with headless Chromium
// against both proxies of st.
func testBrowser(t *testing.T, ctx context.Context, st *stack) {
	node, chromium := testenv.Browser(t, "the Chromium gateway tests", "browsertest", "playwright-core")
	pw, _ := filepath.Abs(filepath.Join("..", "browsertest", "package.json"))
	proxies, _ := json.Marshal(st.proxies)
	err := testenv.NodeTest(t, ctx, node, "browser.test.mjs",
		"SESSIOND_PROXIES="+string(proxies),
		"SESSIOND_API="+st.sessiond,
		"SESSIOND_API_KEY="+apiKey,
		"SESSIOND_CHROMIUM="+chromium,
		"SESSIOND_PLAYWRIGHT_FROM="+pw,
		fmt.Sprintf("SESSIOND_EXPIRY_WAIT_MS=%d", (accessTTL+leeway+time.Second).Milliseconds()),
	)
	if err != nil {
		t.Errorf("browser tests failed: %v", err)
	}
}
