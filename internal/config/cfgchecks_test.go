package config

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/sessiond/sessiond"
)

// parseFindings parses src (which must be YAML) and validates it for
// development, where few rules fire on a small file.
func parseFindings(t *testing.T, src string) []Finding {
	t.Helper()
	cfg, doc, err := Parse([]byte(src), "t.yaml")
	if doc == nil {
		t.Fatalf("Parse: %v", err)
	}
	return Validate(cfg, doc, EnvDevelopment)
}

// errorsAt lists the error findings "RULE path: message", in order.
func errorsAt(fs []Finding) []string {
	var out []string
	for _, f := range fs {
		if f.Severity == SeverityError {
			out = append(out, f.RuleID+" "+f.Path+": "+f.Message)
		}
	}
	return out
}

// TestRules_WebhookEventTypes: SD-WEBHOOK-004 refuses an event type
// sessiond does not record, suggesting the meant one, and keeps an empty
// list (every event) and every real type valid.
func TestRules_WebhookEventTypes(t *testing.T) {
	every := make([]string, 0, len(sessiond.EventTypes()))
	for _, e := range sessiond.EventTypes() {
		every = append(every, string(e))
	}
	cases := []struct {
		name   string
		events string
		want   []string // substrings of the SD-WEBHOOK-004 messages, in order
	}{
		{"no events key: every event", "", nil},
		{"empty list: every event", "events: []", nil},
		{"every known type", "events: [" + strings.Join(every, ", ") + "]", nil},
		{"typo", "events: [session.revokd]", []string{`"session.revokd" is unknown (did you mean "session.revoked"?)`}},
		{"case", "events: [Session.Revoked]", []string{`(did you mean "session.revoked"?)`}},
		{"far from any", "events: [login]", []string{`"login" is unknown; known types: session.created`}},
		{"star is no wildcard", `events: ["*"]`, []string{`"*" is not a wildcard: leave events empty`}},
		{"all is no wildcard", "events: [all]", []string{`"all" is not a wildcard`}},
		{"empty string", `events: [""]`, []string{"an empty event type"}},
		{"each bad one", "events: [session.created, session.revokd, api_key.creatd]", []string{
			"webhooks.0.events.1: webhook 0 event type \"session.revokd\"",
			"webhooks.0.events.2: webhook 0 event type \"api_key.creatd\" is unknown (did you mean \"api_key.created\"?)"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			src := "webhooks:\n  - url: https://hooks.example.com/x\n    " + c.events + "\n"
			var got []string
			for _, f := range parseFindings(t, src) {
				if f.RuleID == "SD-WEBHOOK-004" {
					got = append(got, f.Path+": "+f.Message)
					if f.Severity != SeverityError {
						t.Errorf("%s severity %s; want error", f.Path, f.Severity)
					}
				}
			}
			if len(got) != len(c.want) {
				t.Fatalf("SD-WEBHOOK-004 findings = %q; want %d like %q", got, len(c.want), c.want)
			}
			for i, w := range c.want {
				if !strings.Contains(got[i], w) {
					t.Errorf("finding %d = %q; want it to contain %q", i, got[i], w)
				}
			}
		})
	}
}

// TestParse_InvalidUTF8: a file that is not UTF-8 is refused as a syntax
// error naming the line and column, not decoded with U+FFFD in its place.
func TestParse_InvalidUTF8(t *testing.T) {
	cases := []struct {
		name string
		src  string
		want string // "" when the file must parse
	}{
		{"valid UTF-8", "cookie:\n  name: \"caf\u00e9\"  # é\n", ""},
		{"U+FFFD written out", "log:\n  level: info # \ufffd\n", ""},
		{"Latin-1 in a value", "environment: development\ncookie:\n  name: \"caf\xe9\"\n", "t.yaml:3:13: invalid YAML: byte 0xE9 is not UTF-8"},
		{"in a comment", "server:\n  # \xff\xfe\n  listen: 127.0.0.1:8420\n", "t.yaml:2:5: invalid YAML: byte 0xFF is not UTF-8"},
		{"after multibyte", "# é\xc3\n", "t.yaml:1:4: invalid YAML: byte 0xC3 is not UTF-8"},
		{"after a BOM", "\ufeffa\x80: 1\n", "t.yaml:1:2: invalid YAML: byte 0x80 is not UTF-8"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, doc, err := Parse([]byte(c.src), "t.yaml")
			if c.want == "" {
				if doc == nil {
					t.Fatalf("Parse = %v; want it parsed", err)
				}
				return
			}
			if !errors.Is(err, ErrSyntax) || doc != nil {
				t.Fatalf("Parse = doc %v, %v; want no document and ErrSyntax", doc, err)
			}
			if !strings.HasPrefix(err.Error(), c.want) {
				t.Errorf("Parse error = %q; want it to start %q", err, c.want)
			}
		})
	}
}

// TestRules_CookieNames: SD-COOKIE-013 refuses every name a browser would
// not take as the cookie meant, the absurdly long one included.
func TestRules_CookieNames(t *testing.T) {
	cases := []struct {
		name, cookie string
		want         string // substring of the SD-COOKIE-013 message; "" for none
	}{
		{"default", "__Host-sessiond", ""},
		{"token characters", "__Host-a.b_c-d!#$%&'*+^`|~9", ""},
		{"256 bytes", strings.Repeat("a", 256), ""},
		{"257 bytes", strings.Repeat("a", 257), "cookie.name is 257 bytes long; at most 256 are allowed"},
		{"4000 bytes", strings.Repeat("a", 4000), "is 4000 bytes long"},
		{"empty", "", `cookie.name "" is not a valid cookie name`},
		{"space", "my cookie", "is not a valid cookie name"},
		{"semicolon", "a;b", "is not a valid cookie name"},
		{"equals", "a=b", "is not a valid cookie name"},
		{"control", "a\tb", "is not a valid cookie name"},
		{"non-ASCII", "café", "is not a valid cookie name"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg := Default()
			cfg.Environment = EnvDevelopment
			cfg.Cookie.Name = c.cookie
			var got []string
			for _, f := range Validate(cfg, nil, "") {
				if f.RuleID == "SD-COOKIE-013" && f.Path == "cookie.name" {
					got = append(got, f.Message)
				}
			}
			switch {
			case c.want == "" && len(got) > 0:
				t.Errorf("SD-COOKIE-013 = %q; want none", got)
			case c.want != "" && (len(got) != 1 || !strings.Contains(got[0], c.want)):
				t.Errorf("SD-COOKIE-013 = %q; want one containing %q", got, c.want)
			}
		})
	}
}

// TestValidate_RefusedValueReportedOnce: a value of the wrong type is one
// SD-SCHEMA-002 error; no rule reports again on the default left in its
// place. A value that is applied keeps every rule's findings.
func TestValidate_RefusedValueReportedOnce(t *testing.T) {
	cases := []struct {
		name string
		src  string
		want []string // error findings, "RULE path" prefixes, in order
	}{
		{"webhook item not a mapping", "webhooks: [ \"x\" ]\n",
			[]string{"SD-SCHEMA-002 webhooks.0"}},
		{"trusted proxy not a string", "gateway:\n  trusted_proxies: [ {a: 1} ]\n",
			[]string{"SD-SCHEMA-002 gateway.trusted_proxies.0"}},
		{"webhook field of the wrong type", "webhooks:\n  - url: [https://hooks.example.com]\n    secret_file: /nonexistent\n",
			[]string{"SD-SCHEMA-002 webhooks.0.url"}},
		{"bad item beside a good one", "gateway:\n  trusted_proxies: [ {a: 1}, \"10.0.0.1/8\" ]\n",
			[]string{"SD-SCHEMA-002 gateway.trusted_proxies.0", "SD-GATEWAY-007 gateway.trusted_proxies.1"}},
		{"bad webhook beside a bad event type", "webhooks:\n  - x\n  - url: https://hooks.example.com\n    secret_file: /nonexistent\n    events: [session.revokd]\n",
			[]string{"SD-SCHEMA-002 webhooks.0", "SD-WEBHOOK-004 webhooks.1.events.0"}},
		// A duplicate key is reported, but its first value is applied:
		// what the rules say about that value stands.
		{"duplicate key keeps the rules", "cookie:\n  name: \"a b\"\n  name: ok\n",
			[]string{"SD-COOKIE-013 cookie.name", "SD-SCHEMA-002 cookie.name"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := errorsAt(parseFindings(t, c.src))
			ok := len(got) == len(c.want)
			for i := 0; ok && i < len(got); i++ {
				ok = strings.HasPrefix(got[i], c.want[i]+":")
			}
			if !ok {
				t.Errorf("errors = %s; want one each of %q", fmt.Sprintf("%q", got), c.want)
			}
		})
	}
}
