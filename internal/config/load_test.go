package config

import (
	"errors"
	"io/fs"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/webhook"

	"github.com/sessiond/sessiond/internal/testenv"
)

func TestParse_EmptyIsDefault(t *testing.T) {
	for name, src := range map[string]string{
		"empty":   "",
		"comment": "# nothing here\n",
		"null":    "~\n",
		"doc":     "---\n",
	} {
		t.Run(name, func(t *testing.T) {
			cfg, doc, err := Parse([]byte(src), "c.yaml")
			if err != nil || doc == nil {
				t.Fatalf("Parse(%q) = doc %v, err %v; want a document and no error", src, doc, err)
			}
			if !reflect.DeepEqual(cfg, Default()) {
				t.Errorf("Parse(%q) differs from Default()", src)
			}
		})
	}
}

// TestParse_ByteOrderMark: a UTF-8 BOM before the first key (YAML 1.2
// §5.2 allows one; Windows editors write it) is not part of the key's
// name: the file means what it says, with positions as an editor shows.
func TestParse_ByteOrderMark(t *testing.T) {
	cfg, doc, err := Parse([]byte("\ufeffstrategy: database\nlifetimes:\n  idle: 10m\n"), "c.yaml")
	if err != nil || doc == nil {
		t.Fatalf("Parse = doc %v, err %v", doc, err)
	}
	if len(doc.Errors()) != 0 || cfg.Strategy != "database" || cfg.Lifetime.Idle.Std() != 10*time.Minute {
		t.Errorf("with a BOM: strategy %q, idle %v, field errors %v; want database, 10m, none", cfg.Strategy, cfg.Lifetime.Idle, doc.Errors())
	}
	if line, col := doc.Position("strategy"); line != 1 || col != 11 { // the value, after "strategy: "
		t.Errorf("strategy at %d:%d; want 1:11", line, col)
	}
}

func TestParse_Values(t *testing.T) {
	src := `
environment: development
strategy: database
server:
  listen: "[::1]:9000"
  max_body_bytes: 4096
lifetimes:
  access: 20m
  refresh: 14d
  idle: !!str 45m
cookie:
  secure: false
  domain: ~
csrf:
  trusted_origins: [https://a.example, https://b.example]
anomaly:
  rules:
    distinct_ips: {action: revoke}
webhooks:
  - url: https://h.example/x
    events: [session.revoked]
    secret_file: /run/secrets/hook
`
	cfg, _, err := Parse([]byte(src), "c.yaml")
	if err != nil {
		t.Fatal(err)
	}
	want := Default()
	want.Environment = EnvDevelopment
	want.Strategy = sessiond.StrategyDatabase
	want.Server.Listen = "[::1]:9000"
	want.Server.MaxBodyBytes = 4096
	want.Lifetime.Access = Duration(20 * time.Minute)
	want.Lifetime.Refresh = Duration(14 * 24 * time.Hour)
	want.Lifetime.Idle = Duration(45 * time.Minute)
	want.Cookie.Secure = false
	want.CSRF.TrustedOrigins = []string{"https://a.example", "https://b.example"}
	want.Anomaly.Rules.DistinctIPs.Action = "revoke"
	want.Webhooks = []Webhook{{URL: "https://h.example/x", Events: []string{"session.revoked"}, SecretFile: "/run/secrets/hook", MaxAttempts: 8,
		MaxPendingAge: Duration(webhook.DefaultMaxPendingAge)}}
	if !reflect.DeepEqual(cfg, want) {
		t.Errorf("Parse =\n%+v\nwant\n%+v", cfg, want)
	}
}

func TestParse_FieldErrors(t *testing.T) {
	src := `cookie:
  secur: true
  http_only: "no"
lifetimes:
  idle: 30
  absolute: soon
limits:
  max_sessions: 99999999999999999999
polcy: x
`
	cfg, doc, err := Parse([]byte(src), "c.yaml")
	if doc == nil || err == nil {
		t.Fatalf("Parse = doc %v, err %v; want a document and field errors", doc, err)
	}
	if errors.Is(err, ErrSyntax) {
		t.Errorf("field errors match ErrSyntax: %v", err)
	}
	type want struct {
		path      string
		line, col int
		msg       string
	}
	wants := []want{
		{"cookie.secur", 2, 3, `did you mean "secure"?`},
		{"cookie.http_only", 3, 14, "expected true or false"},
		{"lifetimes.idle", 5, 9, "needs a unit"},
		{"lifetimes.absolute", 6, 13, `invalid duration "soon"`},
		{"limits.max_sessions", 8, 17, "expected an integer"},
		{"polcy", 9, 1, `did you mean "limits.policy"?`},
	}
	var got []*FieldError
	if !errorsAsAll(err, &got) {
		t.Fatalf("error is not a join of *FieldError: %v", err)
	}
	if len(got) != len(wants) {
		t.Fatalf("got %d field errors; want %d:\n%v", len(got), len(wants), err)
	}
	for i, w := range wants {
		g := got[i]
		if g.Path != w.path || g.Line != w.line || g.Column != w.col || !strings.Contains(g.Msg, w.msg) {
			t.Errorf("error %d = %s:%d:%d %q; want %s:%d:%d containing %q", i, g.Path, g.Line, g.Column, g.Msg, w.path, w.line, w.col, w.msg)
		}
	}
	if !slices.Equal(doc.Errors(), got) {
		t.Error("Document.Errors() differs from the returned errors")
	}
	// Bad keys keep their defaults.
	if !cfg.Cookie.HTTPOnly || cfg.Lifetime.Idle != Duration(30*time.Minute) {
		t.Errorf("bad values were applied: http_only %v, idle %v", cfg.Cookie.HTTPOnly, cfg.Lifetime.Idle)
	}
}

func errorsAsAll(err error, out *[]*FieldError) bool {
	j, ok := err.(interface{ Unwrap() []error })
	if !ok {
		return false
	}
	for _, e := range j.Unwrap() {
		var fe *FieldError
		if !errors.As(e, &fe) {
			return false
		}
		*out = append(*out, fe)
	}
	return true
}

func TestParse_Syntax(t *testing.T) {
	for name, src := range map[string]string{
		"unclosed flow": "cookie: {secure: true\n",
		"bad indent":    "a:\n  - b\n  c: 1\n",
		"tab":           "\tcookie: 1\n",
		"scalar":        "hello world\n",
		"list":          "- a\n- b\n",
	} {
		t.Run(name, func(t *testing.T) {
			_, doc, err := Parse([]byte(src), "c.yaml")
			if !errors.Is(err, ErrSyntax) {
				t.Fatalf("Parse(%q) error = %v; want ErrSyntax", src, err)
			}
			if doc != nil {
				t.Error("a syntax error returned a document")
			}
			if !strings.HasPrefix(err.Error(), "c.yaml:") {
				t.Errorf("error %q does not start with the file name", err)
			}
			var fe *FieldError
			if errors.As(err, &fe) {
				t.Errorf("syntax error is also a FieldError: %v", err)
			}
		})
	}
}

func TestParse_Unsupported(t *testing.T) {
	for name, c := range map[string]struct{ src, msg string }{
		"alias":      {"x: &a 5s\nlifetimes:\n  idle: *a\n", "aliases are not supported"},
		"tag":        {"lifetimes:\n  idle: !!binary abc\n", "tag !!binary"},
		"two docs":   {"preset: b2b\n---\npreset: b2c\n", "one YAML document"},
		"merge key":  {"cookie:\n  <<: {secure: true}\n", "merge keys (<<) are not supported"},
		"complex":    {"? a\n: c\n", "unsupported key"},
		"float key":  {"cookie:\n  1.5: x\n", `unknown key "1.5"`},
		"list items": {"csrf:\n  trusted_origins: [1]\n", "expected a string"},
	} {
		t.Run(name, func(t *testing.T) {
			_, doc, err := Parse([]byte(c.src), "c.yaml")
			if doc == nil {
				t.Fatalf("Parse(%q): no document: %v", c.src, err)
			}
			if err == nil || !strings.Contains(err.Error(), c.msg) {
				t.Errorf("Parse(%q) error = %v; want one containing %q", c.src, err, c.msg)
			}
		})
	}
}

func TestParse_AnomalyRuleReplaced(t *testing.T) {
	cfg, _, err := Parse([]byte("anomaly:\n  rules:\n    ip_change: {}\n    distinct_ips:\n"), "c.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if a := cfg.Anomaly.Rules.IPChange.Action; a != "" {
		t.Errorf("ip_change: {} kept action %q; a rule in the file replaces the default", a)
	}
	if a := cfg.Anomaly.Rules.DistinctIPs.Action; a != "" {
		t.Errorf("distinct_ips: (null) kept action %q", a)
	}
	if a := cfg.Anomaly.Rules.UserAgentChange.Action; a != "step_up" {
		t.Errorf("untouched rule user_agent_change = %q; want the default step_up", a)
	}
}

func TestLoad_Errors(t *testing.T) {
	dir := t.TempDir()
	_, doc, err := Load(filepath.Join(dir, "missing.yaml"))
	if !errors.Is(err, fs.ErrNotExist) || errors.Is(err, ErrSyntax) || doc != nil {
		t.Errorf("Load(missing) = %v, doc %v; want fs.ErrNotExist and no document", err, doc)
	}
	big := testenv.WriteFile(t, dir, "big.yaml", "# "+strings.Repeat("x", MaxFileBytes)+"\n")
	if _, doc, err := Load(big); err == nil || doc != nil {
		t.Errorf("Load(>MaxFileBytes) = %v, doc %v; want an error", err, doc)
	}
}

func TestDocument_Position(t *testing.T) {
	src := `preset: b2b
cookie:
  secure: false
  path: /
webhooks:
  - url: https://x.example
    secret_file: /s
`
	_, doc, err := Parse([]byte(src), "c.yaml")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		path      string
		line, col int
		has       bool
	}{
		{"preset", 1, 9, true},
		{"cookie", 2, 1, true},
		{"cookie.secure", 3, 11, true},
		{"cookie.domain", 2, 1, false},  // absent: its parent
		{"lifetimes.idle", 1, 1, false}, // no parent: the top of the file
		{"webhooks.0", 6, 5, true},
		{"webhooks.0.secret_file", 7, 18, true},
		{"webhooks.0.max_attempts", 6, 5, false},
	}
	for _, tt := range tests {
		line, col := doc.Position(tt.path)
		if line != tt.line || col != tt.col || doc.Has(tt.path) != tt.has {
			t.Errorf("Position(%q) = %d:%d, Has %v; want %d:%d, %v", tt.path, line, col, doc.Has(tt.path), tt.line, tt.col, tt.has)
		}
	}
	var nilDoc *Document
	if l, c := nilDoc.Position("preset"); l != 0 || c != 0 || nilDoc.Has("preset") || nilDoc.Errors() != nil {
		t.Error("a nil Document knows positions")
	}
}

func TestSuggest(t *testing.T) {
	cookieKeys := []string{"name", "refresh_name", "refresh_path", "secure", "http_only", "same_site", "path", "domain", "max_age"}
	tests := []struct {
		key  string
		want string
	}{
		{"secur", "secure"},
		{"secrue", "secure"},
		{"SameSite", "same_site"},
		{"same-site", "same_site"},
		{"httpOnly", "http_only"},
		{"HTTPONLY", "http_only"},
		{"maxage", "max_age"},
		{"domian", "domain"},
		{"pth", "path"},
		{"expires", ""},
		{"x", ""},
		{"", ""},
		{"completely_unrelated_key", ""},
	}
	for _, tt := range tests {
		if got := suggest(tt.key, cookieKeys); got != tt.want {
			t.Errorf("suggest(%q) = %q; want %q", tt.key, got, tt.want)
		}
	}
	for key, want := range map[string]string{
		"secure":         "cookie.secure",
		"rotation":       "refresh.rotation",
		"hs256_secret":   "",
		"dsn":            "store.dsn",
		"secret_file":    "webhooks.N.secret_file",
		"same_site":      "cookie.same_site",
		"no_such_thing":  "",
		"name":           "", // cookie.name and webhooks.N.name: ambiguous, so no guess
		"max_attempts":   "webhooks.N.max_attempts",
		"trusted_origin": "csrf.trusted_origins",
		"polcy":          "limits.policy",
	} {
		if got := suggestPath(key); got != want {
			t.Errorf("suggestPath(%q) = %q; want %q", key, got, want)
		}
	}
}

func TestKeys(t *testing.T) {
	keys := Keys()
	for _, k := range []string{"environment", "server.listen", "lifetimes.reuse_interval", "cookie.max_age",
		"anomaly.rules.refresh_device_change.action", "webhooks[].secret_file", "csrf.trusted_origins"} {
		if !slices.Contains(keys, k) {
			t.Errorf("Keys() lacks %q", k)
		}
	}
	seen := map[string]bool{}
	for _, k := range keys {
		if seen[k] {
			t.Errorf("Keys() lists %q twice", k)
		}
		seen[k] = true
	}
	// Every key round-trips through the file format.
	for _, k := range keys {
		if strings.Contains(k, "[]") {
			continue
		}
		if _, ok := Default().lookup(k); !ok {
			t.Errorf("key %q does not resolve in Config", k)
		}
	}
}

// lookup finds the value of a dotted key path, for tests.
func (c Config) lookup(path string) (reflect.Value, bool) {
	v := reflect.ValueOf(c)
	for _, seg := range strings.Split(path, ".") {
		found := false
		for i := range v.NumField() {
			if yamlName(v.Type().Field(i)) == seg {
				v, found = v.Field(i), true
				break
			}
		}
		if !found {
			return reflect.Value{}, false
		}
	}
	return v, true
}

func TestConfig_Lifetimes(t *testing.T) {
	cfg := Default()
	cfg.Preset = sessiond.PresetB2B
	cfg.Lifetime.Refresh = Duration(48 * time.Hour)
	cfg.Lifetime.Idle = Duration(20 * time.Minute)
	got, err := cfg.Lifetimes()
	if err != nil {
		t.Fatal(err)
	}
	want := sessiond.Lifetimes{Access: 15 * time.Minute, Refresh: 48 * time.Hour, Idle: 20 * time.Minute, Absolute: 8 * time.Hour}
	if got != want {
		t.Errorf("Lifetimes() = %+v; want %+v", got, want)
	}
	cfg.Preset = "enterprise"
	if _, err := cfg.Lifetimes(); !errors.Is(err, sessiond.ErrInvalidArgument) {
		t.Errorf("Lifetimes() with an unknown preset = %v; want ErrInvalidArgument", err)
	}
}

func TestParseDuration(t *testing.T) {
	tests := []struct {
		in      string
		want    time.Duration
		wantErr bool
	}{
		{"", 0, false},
		{"15m", 15 * time.Minute, false},
		{"1h30m", 90 * time.Minute, false},
		{"30d", 30 * 24 * time.Hour, false},
		{" 5s ", 5 * time.Second, false},
		{"-5s", 0, true},
		{"5", 0, true},
		{"d", 0, true},
		{"-1d", 0, true},
		{"1.5d", 0, true},
		{"999999999d", 0, true},
		{"8 hours", 0, true},
	}
	for _, tt := range tests {
		got, err := ParseDuration(tt.in)
		if (err != nil) != tt.wantErr || got.Std() != tt.want {
			t.Errorf("ParseDuration(%q) = %v, %v; want %v, error %v", tt.in, got, err, tt.want, tt.wantErr)
		}
	}
}

func TestParse_Limits(t *testing.T) {
	for name, src := range map[string]string{
		"flow":            strings.Repeat("[", 100000),
		"flow mapping":    "a: " + strings.Repeat("{a: ", 1000),
		"dashes":          strings.Repeat("- ", 1000) + "x\n",
		"flow after text": "cookie:\n  name: " + strings.Repeat("[", 65) + "\n",
	} {
		t.Run(name, func(t *testing.T) {
			start := time.Now()
			_, doc, err := Parse([]byte(src), "c.yaml")
			if !errors.Is(err, ErrSyntax) || doc != nil {
				t.Errorf("Parse(deep %s) = %v; want ErrSyntax", name, err)
			}
			if d := time.Since(start); d > time.Second {
				t.Errorf("Parse(deep %s) took %v", name, d)
			}
		})
	}
	for name, src := range map[string]string{
		"brackets in strings":  "jwt:\n  issuer: \"" + strings.Repeat("[", 100) + "\"\n  audience: '" + strings.Repeat("{", 100) + "'\n",
		"brackets in comments": "# " + strings.Repeat("[", 100) + "\npreset: b2b\n",
		"separator":            "---\npreset: b2b\n...\n",
	} {
		t.Run(name, func(t *testing.T) {
			if _, _, err := Parse([]byte(src), "c.yaml"); err != nil {
				t.Errorf("Parse(%s) = %v; want no error", name, err)
			}
		})
	}
	_, doc, err := Parse(make([]byte, MaxFileBytes+1), "c.yaml")
	if err == nil || doc != nil {
		t.Errorf("Parse(>MaxFileBytes) = %v; want an error and no document", err)
	}
}
