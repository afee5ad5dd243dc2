package gatewaytest

import (
	"os"
	"regexp"
	"strings"
	"testing"
)

// TestDocs_ConfigsAreTheTestedOnes: every NGINX and Caddy block in
// docs/gateway.md is copied from the example files this package runs.
func TestDocs_ConfigsAreTheTestedOnes(t *testing.T) {
	doc := readFile(t, "../docs/gateway.md")
	for lang, file := range map[string]string{"nginx": "../examples/gateway/nginx.conf", "caddyfile": "../examples/gateway/Caddyfile"} {
		example := readFile(t, file)
		blocks := regexp.MustCompile("(?s)```"+lang+"\n(.*?)```").FindAllStringSubmatch(doc, -1)
		if len(blocks) == 0 {
			t.Errorf("docs/gateway.md has no %s block", lang)
		}
		for _, b := range blocks {
			if !strings.Contains(example, b[1]) {
				t.Errorf("a %s block of docs/gateway.md is not in %s:\n%s", lang, file, b[1])
			}
		}
	}
	if _, err := os.Stat("../examples/gateway/app.py"); err != nil {
		t.Error(err)
	}
}
