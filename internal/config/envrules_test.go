package config

import (
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// envCases configure, for each rule whose outcome depends on the
// environment, a file on which production and development get different
// findings from it.
var envCases = map[string]func(*Config){
	"SD-COOKIE-002":  func(c *Config) { c.Cookie.Secure = false },
	"SD-WEBHOOK-001": func(c *Config) { c.Webhooks = []Webhook{{URL: "http://hooks.example/x", MaxAttempts: 8}} },
	"SD-SERVER-001":  func(c *Config) { c.Server.Listen = "0.0.0.0:8420" },
	"SD-SERVER-005":  func(c *Config) { c.Server.Listen = "0.0.0.0:8420" },
	"SD-STORE-003":   func(c *Config) { c.Store.Driver = "memory" },
	"SD-JWT-009":     func(*Config) {}, // hybrid without a KEK: the defaults
	"SD-GATEWAY-009": func(c *Config) { c.Gateway.Enabled, c.Gateway.LoginURL = true, "/login" },
	"SD-GATEWAY-001": func(c *Config) {
		c.Gateway.Enabled, c.Gateway.LoginURL = true, "http://id.example/login"
	},
	"SD-SSF-001": func(c *Config) {
		c.SSF.Receivers = []SSFReceiver{{
			Name: "idp", Issuer: "https://idp.example", Audience: "sessiond",
			JWKSURL: "http://idp.example/jwks", SubjectFormat: "email", Delivery: SSFDeliveryPush, Path: "/ssf/idp",
		}}
	},
	"SD-SSF-002": func(c *Config) { c.SSF.Transmitter = SSFTransmitter{Enabled: true, Issuer: "http://sessiond.example"} },
	"SD-SSF-003": func(c *Config) {
		c.SSF.Transmitter = SSFTransmitter{Enabled: true, Issuer: "https://sessiond.example", AllowPrivateEndpoints: true}
	},
}

// findingsOf is what rule id reports on cfg checked as env, one line per
// finding (severity, path, message).
func findingsOf(cfg Config, env, id string) []string {
	var out []string
	for _, f := range Validate(cfg, nil, env) {
		if f.RuleID == id {
			out = append(out, fmt.Sprintf("%s %s %s", f.Severity, f.Path, f.Message))
		}
	}
	return out
}

// TestDocs_EnvironmentRules: the `environment` entry of
// docs/configuration.md names exactly the rules whose outcome depends on
// it. Each named rule must answer differently in production and in
// development on its case; and no other rule may, on any of the cases.
func TestDocs_EnvironmentRules(t *testing.T) {
	doc := readDoc(t, "configuration.md")
	start := strings.Index(doc, "\n- `environment`:")
	if start < 0 {
		t.Fatal("docs/configuration.md has no `environment` entry")
	}
	entry := doc[start+1:]
	if end := strings.Index(entry, "\n- `"); end >= 0 {
		entry = entry[:end]
	}
	var documented []string
	for _, id := range regexp.MustCompile(`SD-[A-Z]+-\d+`).FindAllString(entry, -1) {
		if !slices.Contains(documented, id) {
			documented = append(documented, id)
		}
	}
	slices.Sort(documented)
	if want := slices.Sorted(maps.Keys(envCases)); !slices.Equal(documented, want) {
		t.Errorf("docs/configuration.md, `environment`: names %v; the rules that depend on it are %v", documented, want)
	}

	for id, edit := range envCases {
		cfg := Default()
		edit(&cfg)
		if prod, dev := findingsOf(cfg, EnvProduction, id), findingsOf(cfg, EnvDevelopment, id); slices.Equal(prod, dev) {
			t.Errorf("%s: the same findings in production and development (%q): its case does not show the environment matters", id, prod)
		}
		for _, r := range Rules() {
			if _, listed := envCases[r.ID]; listed {
				continue
			}
			if prod, dev := findingsOf(cfg, EnvProduction, r.ID), findingsOf(cfg, EnvDevelopment, r.ID); !slices.Equal(prod, dev) {
				t.Errorf("%s depends on the environment (case of %s: production %q, development %q) but docs/configuration.md does not say so", r.ID, id, prod, dev)
			}
		}
	}
}
