package config

import (
	"strings"
	"testing"
	"time"
)

// TestParse_NoValueAndTags pins what docs/configuration.md ("How the file
// is read") and SD-SCHEMA-002 say about a key with no value and about YAML
// tags: strings, durations and lists read no value as empty, an int or a
// bool reports it; !!str makes a value a string, !!int, !!bool, !!map,
// !!seq and !!null change nothing, any other tag is an error. A key with
// an error keeps its default.
func TestParse_NoValueAndTags(t *testing.T) {
	def := Default()
	for name, c := range map[string]struct {
		src   string
		err   string // a substring of the one field error; "" for none
		check func(Config) bool
	}{
		"int, no value":     {"limits:\n  max_sessions:\n", "limits.max_sessions: expected an integer, got null", func(c Config) bool { return c.Limits == def.Limits }},
		"int, ~":            {"limits:\n  max_sessions: ~\n", "limits.max_sessions: expected an integer, got null", func(c Config) bool { return c.Limits == def.Limits }},
		"int, default kept": {"server:\n  max_body_bytes:\n", "server.max_body_bytes: expected an integer, got null", func(c Config) bool { return c.Server.MaxBodyBytes == 65536 }},
		"bool, no value":    {"cookie:\n  secure:\n", "cookie.secure: expected true or false, got null", func(c Config) bool { return c.Cookie.Secure }},
		"bool, ~":           {"cookie:\n  http_only: ~\n", "cookie.http_only: expected true or false, got null", func(c Config) bool { return c.Cookie.HTTPOnly }},
		"string, no value":  {"server:\n  listen:\n", "", func(c Config) bool { return c.Server.Listen == "" }},
		"string, ~":         {"cookie:\n  name: ~\n", "", func(c Config) bool { return c.Cookie.Name == "" }},
		"duration, ~":       {"lifetimes:\n  idle: ~\n", "", func(c Config) bool { return c.Lifetime.Idle == 0 }},
		"list, no value":    {"csrf:\n  trusted_origins:\n", "", func(c Config) bool { return c.CSRF.TrustedOrigins != nil && len(c.CSRF.TrustedOrigins) == 0 }},
		"section, no value": {"cookie:\n", "", func(c Config) bool { return c.Cookie == def.Cookie }},

		"!!str on a string":   {"server:\n  listen: !!str 8080\n", "", func(c Config) bool { return c.Server.Listen == "8080" }},
		"!!str on a duration": {"lifetimes:\n  idle: !!str 45m\n", "", func(c Config) bool { return c.Lifetime.Idle == Duration(45*time.Minute) }},
		"!!str on an int":     {"server:\n  max_body_bytes: !!str 100\n", "server.max_body_bytes: expected an integer", func(c Config) bool { return c.Server.MaxBodyBytes == 65536 }},
		"!!int":               {"server:\n  max_body_bytes: !!int 100\n", "", func(c Config) bool { return c.Server.MaxBodyBytes == 100 }},
		"!!int, quoted":       {"server:\n  max_body_bytes: !!int \"100\"\n", `expected an integer, got string "100"`, func(c Config) bool { return c.Server.MaxBodyBytes == 65536 }},
		"!!bool":              {"cookie:\n  secure: !!bool false\n", "", func(c Config) bool { return !c.Cookie.Secure }},
		"!!bool, quoted":      {"cookie:\n  secure: !!bool \"false\"\n", "the !!bool tag does not turn a quoted value into a boolean", func(c Config) bool { return c.Cookie.Secure }},
		"!!map":               {"server: !!map\n  listen: a\n", "", func(c Config) bool { return c.Server.Listen == "a" }},
		"!!seq":               {"csrf:\n  trusted_origins: !!seq [https://a.example]\n", "", func(c Config) bool { return len(c.CSRF.TrustedOrigins) == 1 }},
		"!!null":              {"server:\n  listen: !!null\n", "", func(c Config) bool { return c.Server.Listen == "" }},
		"!!float":             {"limits:\n  max_sessions: !!float 1.5\n", "YAML tag !!float is not supported", func(c Config) bool { return c.Limits == def.Limits }},
		"!!timestamp":         {"lifetimes:\n  idle: !!timestamp 2001-12-14\n", "YAML tag !!timestamp is not supported", func(c Config) bool { return c.Lifetime.Idle == def.Lifetime.Idle }},
		"!!binary":            {"server:\n  listen: !!binary abc\n", "YAML tag !!binary is not supported", func(c Config) bool { return c.Server.Listen == def.Server.Listen }},
		"custom tag":          {"server:\n  listen: !local x\n", "YAML tag !local is not supported", func(c Config) bool { return c.Server.Listen == def.Server.Listen }},
		"verbatim tag":        {"server:\n  listen: !<tag:yaml.org,2002:str> x\n", "is not supported", func(c Config) bool { return c.Server.Listen == def.Server.Listen }},
	} {
		t.Run(name, func(t *testing.T) {
			cfg, doc, err := Parse([]byte(c.src), "c.yaml")
			if doc == nil {
				t.Fatalf("Parse(%q): no document: %v", c.src, err)
			}
			errs := doc.Errors()
			switch {
			case c.err == "" && len(errs) != 0:
				t.Errorf("Parse(%q) = %v; want no field error", c.src, err)
			case c.err != "" && (len(errs) != 1 || !strings.Contains(errs[0].Error(), c.err)):
				t.Errorf("Parse(%q) = %v; want one field error containing %q", c.src, err, c.err)
			case c.err != "" && errs[0].UnknownKey():
				t.Errorf("Parse(%q): %v is reported as an unknown key (SD-SCHEMA-001); want SD-SCHEMA-002", c.src, errs[0])
			}
			if !c.check(cfg) {
				t.Errorf("Parse(%q): the value read is not what the doc says", c.src)
			}
		})
	}
}
