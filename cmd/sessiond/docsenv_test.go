package main

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/sessiond/sessiond/internal/config"
)

// readVariables returns every SESSIOND_ variable this repository reads:
// the configuration's (config.EnvName of each key), and every name the Go
// code spells as a string ("SESSIOND_URL", a test's "SESSIOND_HELM") or
// the browser tests' scripts read from process.env. A name only in a
// comment or a page does not count.
func readVariables(t *testing.T, root string) map[string]bool {
	t.Helper()
	known := map[string]bool{}
	for _, k := range config.Keys() {
		if n := config.EnvName(k); n != "" {
			known[n] = true
		}
	}
	goName := regexp.MustCompile(`"(SESSIOND_[A-Z0-9_]*[A-Z0-9])\b`)
	jsName := regexp.MustCompile(`process\.env\.(SESSIOND_[A-Z0-9_]*[A-Z0-9])\b`)
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if d.Name() == "node_modules" || strings.HasPrefix(d.Name(), ".") && p != root {
				return filepath.SkipDir
			}
			return nil
		}
		var re *regexp.Regexp
		switch filepath.Ext(p) {
		case ".go":
			re = goName
		case ".js", ".mjs", ".ts":
			re = jsName
		default:
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		for _, m := range re.FindAllStringSubmatch(string(b), -1) {
			known[m[1]] = true
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return known
}

// TestDocs_EnvironmentVariables: every SESSIOND_ variable the pages and the
// packaging (Compose file, Dockerfile, systemd unit, Helm chart) tell an
// operator to set is one sessiond or its tests read, so that a misspelt
// name in a runbook does not set nothing. The one exception is
// configuration.md's example of a misspelling serve refuses
// (SESSIOND_COOKIE_SECUR): config.ApplyEnv must refuse it. A family
// written with a placeholder (SESSIOND_SSF_<NAME>_POLL_AUTHORIZATION,
// SESSIOND_COOKIE_…, SESSIOND_STORE_*) is not a name and is left out.
func TestDocs_EnvironmentVariables(t *testing.T) {
	known := readVariables(t, "../..")
	pages, err := filepath.Glob("../../docs/*.md")
	if err != nil {
		t.Fatal(err)
	}
	pages = append(pages, "../../README.md", "../../SECURITY.md", "../../sdk/node/README.md",
		"../../examples/webapp/README.md", "../../examples/gateway/README.md",
		"../../docker-compose.yml", "../../Dockerfile", "../../deploy/systemd/sessiond.service")
	chart, err := filepath.Glob("../../deploy/helm/sessiond/*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	pages = append(pages, chart...)
	// The pages' examples of a misspelt name, which serve must refuse.
	misspelt := map[string]bool{"SESSIOND_COOKIE_SECUR": true}
	name := regexp.MustCompile(`SESSIOND_[A-Z0-9_]*[A-Z0-9]`)
	n := 0
	for _, page := range pages {
		b, err := os.ReadFile(page)
		if err != nil {
			t.Fatal(err)
		}
		s := string(b)
		for _, loc := range name.FindAllStringIndex(s, -1) {
			v, after := s[loc[0]:loc[1]], s[loc[1]:]
			if strings.HasPrefix(after, "_") || strings.HasPrefix(after, "…") || strings.HasPrefix(after, "*") {
				continue // SESSIOND_SSF_<NAME>_…, SESSIOND_COOKIE_…, SESSIOND_STORE_*: a family
			}
			n++
			if known[v] {
				continue
			}
			if misspelt[v] {
				cfg := config.Default()
				var fe *config.FieldError
				if err := config.ApplyEnv(&cfg, []string{v + "=false"}); !errors.As(err, &fe) || fe.Path != v {
					t.Errorf("%s shows %s as a misspelling serve refuses; ApplyEnv = %v", strings.TrimPrefix(page, "../../"), v, err)
				}
				continue
			}
			t.Errorf("%s names %s, which nothing in sessiond reads", strings.TrimPrefix(page, "../../"), v)
		}
	}
	if n < 200 {
		t.Fatalf("found only %d SESSIOND_ variables in the pages; want more", n)
	}
}
