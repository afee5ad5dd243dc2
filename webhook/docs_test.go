package webhook_test

import (
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"github.com/sessiond/sessiond/internal/config"
	"github.com/sessiond/sessiond/webhook"
)

// TestDocs_ExampleDelivery: the delivery docs/webhooks.md shows verifies
// under the secret it names, which readers use to test a receiver, and
// that secret is one serve accepts (a typed key is refused, SD-WEBHOOK-006).
func TestDocs_ExampleDelivery(t *testing.T) {
	doc, err := os.ReadFile("../docs/webhooks.md")
	if err != nil {
		t.Fatal(err)
	}
	find := func(re string) string {
		t.Helper()
		m := regexp.MustCompile(re).FindSubmatch(doc)
		if m == nil {
			t.Fatalf("docs/webhooks.md: no match for %s", re)
		}
		return string(m[1])
	}
	h := http.Header{}
	h.Set(webhook.HeaderID, find(`(?m)^webhook-id: (\S+)$`))
	h.Set(webhook.HeaderTimestamp, find(`(?m)^webhook-timestamp: (\d+)$`))
	h.Set(webhook.HeaderSignature, find(`(?m)^webhook-signature: (\S+)$`))
	body := find(`(?m)^(\{"type":"session\.revoked".*\})$`)
	key, err := webhook.ParseSecret(find("the secret is\\s+`(whsec_[^`]+)`"))
	if err != nil {
		t.Fatal(err)
	}
	if err := webhook.Verify(key, h, []byte(body), 100*365*24*time.Hour, time.Unix(1898831168, 0)); err != nil {
		t.Errorf("the example delivery does not verify under the example secret: %v", err)
	}
	if p := config.HS256SecretProblem(key); p != "" {
		t.Errorf("the example secret would be refused by serve: it %s", p)
	}
}

// TestDocs_ExampleKeysAccepted: every webhook secret the documentation
// shows (README, docs/, this package's examples, which pkg.go.dev
// publishes) is one serve accepts, so that a reader who pastes it into a
// secret_file is not refused (SD-WEBHOOK-006). Keys under 32 bytes are
// SD-WEBHOOK-002's: ExampleSign keeps the Standard Webhooks test vector.
func TestDocs_ExampleKeysAccepted(t *testing.T) {
	files, err := filepath.Glob("../docs/*.md")
	if err != nil {
		t.Fatal(err)
	}
	files = append(files, "../README.md", "example_test.go")
	re := regexp.MustCompile(`whsec_[A-Za-z0-9+/]+=*`)
	found := 0
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range re.FindAllString(string(b), -1) {
			key, err := webhook.ParseSecret(s)
			if err != nil || len(key) < 32 {
				continue
			}
			found++
			if p := config.HS256SecretProblem(key); p != "" {
				t.Errorf("%s shows the webhook secret %s, which serve refuses: the key %s", f, s, p)
			}
		}
	}
	if found == 0 {
		t.Error("no webhook secret of 32 bytes or more found in the docs; the pattern is wrong")
	}
}
