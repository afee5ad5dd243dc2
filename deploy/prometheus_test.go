package deploy

import (
	"crypto/tls"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/goccy/go-yaml"

	"github.com/sessiond/sessiond/internal/config"
	"github.com/sessiond/sessiond/internal/server"
	"github.com/sessiond/sessiond/internal/servertest"
	"github.com/sessiond/sessiond/internal/testenv"
	"github.com/sessiond/sessiond/sessiondtest"
)

const alertRules = "prometheus/sessiond-alerts.yaml"

// TestPrometheusRules_Promtool: Prometheus's own checker accepts the rules
// file, and its unit tests (prometheus/sessiond-alerts_test.yaml) fire each
// tested alert on the series it is meant for and not on calm ones.
func TestPrometheusRules_Promtool(t *testing.T) {
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		require(t, "promtool (apt-get install prometheus)")
	}
	for _, args := range [][]string{{"check", "rules", alertRules}, {"test", "rules", "prometheus/sessiond-alerts_test.yaml"}} {
		out, err := exec.Command(promtool, args...).CombinedOutput()
		if err != nil {
			t.Errorf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
}

// seriesRef matches a sessiond series in a PromQL expression, with its
// label matchers if any.
var seriesRef = regexp.MustCompile(`(sessiond_[a-z_]+)(\{[^}]*\})?`)

// matcher is one label matcher: name, operator (= or =~), value.
var matcher = regexp.MustCompile(`([a-z_]+)\s*(=~|=)\s*"([^"]*)"`)

// TestPrometheusRules_SeriesExist: every series an alert names is in the
// /metrics answer of a real server, with every label value it matches on.
// An alert on a renamed metric or a label value that never occurs would
// stay silent forever; promtool cannot tell.
func TestPrometheusRules_SeriesExist(t *testing.T) {
	b, err := os.ReadFile(alertRules)
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Groups []struct {
			Rules []struct {
				Alert string `yaml:"alert"`
				Expr  string `yaml:"expr"`
			} `yaml:"rules"`
		} `yaml:"groups"`
	}
	if err := yaml.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}

	// The default store's, and a Redis store's: some series exist only
	// there (sessiond_store_revocations_unacked_total).
	rd := sessiondtest.RequireEnv(t, "SESSIOND_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
	redisCfg := servertest.Config(t)
	redisCfg.Store.Driver, redisCfg.Store.DSN, redisCfg.Store.Namespace = "redis", rd, testenv.UniqueName("promrules")
	t.Cleanup(func() { testenv.DeleteRedisPrefix(t, rd, redisCfg.Store.Namespace+":") })
	// And one serving TLS: the certificate's series exist only there.
	tlsCfg := servertest.Config(t)
	dir := t.TempDir()
	tlsCfg.Server.TLSCertFile, tlsCfg.Server.TLSKeyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	cp, kp := testenv.CertPEM(t, testenv.SelfSigned(t, 1, "127.0.0.1"))
	for path, b := range map[string][]byte{tlsCfg.Server.TLSCertFile: cp, tlsCfg.Server.TLSKeyFile: kp} {
		if err := os.WriteFile(path, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}} // the series, not the chain
	var lines []string
	for _, cfg := range []config.Config{servertest.Config(t), redisCfg, tlsCfg} {
		base := servertest.Run(t, server.Options{Config: cfg})
		if cfg.Server.TLSCertFile != "" {
			base = "https://" + strings.TrimPrefix(base, "http://")
		}
		res, err := hc.Get(base + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(res.Body)
		res.Body.Close()
		if err != nil || res.StatusCode != http.StatusOK {
			t.Fatalf("/metrics (%s): %d %v", cfg.Store.Driver, res.StatusCode, err)
		}
		for _, l := range strings.Split(string(body), "\n") {
			if l != "" && !strings.HasPrefix(l, "#") {
				lines = append(lines, l)
			}
		}
	}
	// exists reports whether a sample of name carries label=value.
	exists := func(name, label, value string) bool {
		for _, l := range lines {
			if !strings.HasPrefix(l, name+"{") && !strings.HasPrefix(l, name+" ") {
				continue
			}
			if label == "" || strings.Contains(l, label+`="`+value+`"`) {
				return true
			}
		}
		return false
	}

	n := 0
	for _, g := range doc.Groups {
		for _, r := range g.Rules {
			refs := seriesRef.FindAllStringSubmatch(r.Expr, -1)
			if len(refs) == 0 {
				t.Errorf("%s names no sessiond series: %s", r.Alert, r.Expr)
			}
			for _, ref := range refs {
				n++
				name := ref[1]
				if !exists(name, "", "") {
					t.Errorf("%s: %s is not in /metrics", r.Alert, name)
					continue
				}
				for _, m := range matcher.FindAllStringSubmatch(ref[2], -1) {
					values := []string{m[3]}
					if m[2] == "=~" {
						values = strings.Split(m[3], "|")
					}
					for _, v := range values {
						if !exists(name, m[1], v) {
							t.Errorf("%s: %s has no series with %s=%q", r.Alert, name, m[1], v)
						}
					}
				}
			}
		}
	}
	if n < 15 {
		t.Fatalf("found %d series references in %s, want at least one per alert", n, alertRules)
	}
}

// TestPrometheusRules_DocsQuoteShipped: an alert rule a page shows (a
// ```yaml block listing `- alert:` rules) is the shipped one, with its
// expression and duration as they stand in the rules file. docs/webhooks.md
// showed SessiondWebhookDead and SessiondWebhookBacklog with thresholds of
// their own (100 pending, not 1000) and without `max by (job)`, so every
// node fired its own copy of a store-wide alert.
func TestPrometheusRules_DocsQuoteShipped(t *testing.T) {
	type rule struct {
		Alert string `yaml:"alert"`
		Expr  string `yaml:"expr"`
		For   string `yaml:"for"`
	}
	b, err := os.ReadFile(alertRules)
	if err != nil {
		t.Fatal(err)
	}
	var file struct {
		Groups []struct {
			Rules []rule `yaml:"rules"`
		} `yaml:"groups"`
	}
	if err := yaml.Unmarshal(b, &file); err != nil {
		t.Fatal(err)
	}
	shipped := map[string]rule{}
	for _, g := range file.Groups {
		for _, r := range g.Rules {
			shipped[r.Alert] = r
		}
	}
	pages, err := filepath.Glob("../docs/*.md")
	if err != nil {
		t.Fatal(err)
	}
	pages = append(pages, "../README.md")
	block := regexp.MustCompile("(?ms)^[ \t]*```yaml\n(.*?)^[ \t]*```")
	n := 0
	for _, page := range pages {
		b, err := os.ReadFile(page)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range block.FindAllStringSubmatch(string(b), -1) {
			var rules []rule
			if yaml.Unmarshal([]byte(m[1]), &rules) != nil {
				continue // not a list of rules: a configuration file
			}
			for _, r := range rules {
				if r.Alert == "" {
					continue
				}
				n++
				want, ok := shipped[r.Alert]
				switch {
				case !ok:
					t.Errorf("%s shows the alert %s, which %s does not ship", filepath.Base(page), r.Alert, alertRules)
				case strings.Join(strings.Fields(r.Expr), " ") != strings.Join(strings.Fields(want.Expr), " ") || r.For != want.For:
					t.Errorf("%s shows %s as expr %q, for %q; %s ships expr %q, for %q",
						filepath.Base(page), r.Alert, r.Expr, r.For, alertRules, want.Expr, want.For)
				}
			}
		}
	}
	if n == 0 {
		t.Fatal("no alert rule found in the pages' yaml blocks; the pattern is wrong")
	}
}
