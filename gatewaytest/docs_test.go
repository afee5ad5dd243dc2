package gatewaytest

import (
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/sessiond/sessiond/internal/config"
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

// TestDocs_DevelopmentCookies: the plain-HTTP cookie setting docs/gateway.md
// gives is the one examples/gateway runs, and serve takes it with the
// gateway on. The page said `cookie.secure: false` drops the __Host- and
// __Secure- prefixes; serve keeps the names and refuses to start
// (SD-COOKIE-007, SD-COOKIE-008), so a reader needs the names too.
func TestDocs_DevelopmentCookies(t *testing.T) {
	doc := readFile(t, "../docs/gateway.md")
	m := regexp.MustCompile("`(cookie: \\{[^`]*secure: false\\})`").FindStringSubmatch(doc)
	if m == nil {
		t.Fatal("docs/gateway.md gives no `cookie: {…, secure: false}` setting for plain HTTP")
	}
	if example := readFile(t, "../examples/gateway/README.md"); !strings.Contains(example, m[1]) {
		t.Errorf("docs/gateway.md's %s is not the setting examples/gateway/README.md runs", m[1])
	}
	for name, yaml := range map[string]string{
		"the page's setting":  m[1],
		"secure: false alone": "cookie: {secure: false}",
	} {
		cfg, d, err := config.Parse([]byte("environment: development\ngateway: {enabled: true, login_url: /login}\n"+yaml+"\n"), "gateway.yaml")
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		var errs []string
		for _, f := range config.Validate(cfg, d, "") {
			if f.Severity == config.SeverityError {
				errs = append(errs, f.RuleID)
			}
		}
		if want := name != "the page's setting"; (len(errs) > 0) != want {
			t.Errorf("%s (%s): errors %v; want errors %v", name, yaml, errs, want)
		}
	}
}
