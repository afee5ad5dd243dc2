package config

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

// TestReport_HostileKeys: a key's name reaches a finding's path. In the
// text report it must not forge a line or send a terminal escape, and
// the JSON and SARIF reports stay valid JSON.
func TestReport_HostileKeys(t *testing.T) {
	cases := []struct {
		name, yaml string
	}{
		{"newline forging a finding", "\"a\\nf.yaml:9:9: error SD-FAKE-001 x: forged\": 1\n"},
		{"carriage return", "\"a\\rb\": 1\n"},
		{"ANSI escape", "cookie:\n  \"x\\e[31m\": 1\n"},
		{"C1 CSI", "cookie:\n  \"x\\u009b31m\": 1\n"},
		{"bidi override", "cookie:\n  \"x\\u202ey\": 1\n"},
		{"line separator", "cookie:\n  \"x\\u2028y\": 1\n"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg, doc, _ := Parse([]byte(tc.yaml), "f.yaml")
			if doc == nil {
				t.Fatal("Parse returned no document")
			}
			fs := Validate(cfg, doc, "")
			var text bytes.Buffer
			if err := Report(&text, FormatText, "f\n.yaml", fs); err != nil {
				t.Fatal(err)
			}
			out := text.String()
			if lines := strings.Count(out, "\n"); lines != len(fs)+1 {
				t.Errorf("text report has %d lines for %d findings:\n%s", lines, len(fs), out)
			}
			if i := strings.IndexFunc(out, func(r rune) bool { return r != '\n' && unsafeInText(r) }); i >= 0 {
				t.Errorf("text report holds %U: %q", []rune(out[i:])[0], out)
			}
			for _, format := range []string{FormatJSON, FormatSARIF} {
				var b bytes.Buffer
				if err := Report(&b, format, "f\n\".yaml", fs); err != nil || !json.Valid(b.Bytes()) {
					t.Errorf("Report(%s) = %v, valid JSON %v", format, err, json.Valid(b.Bytes()))
				}
			}
		})
	}
}

func unsafeInText(r rune) bool {
	return r < 0x20 && r != '\t' || r >= 0x7f && r <= 0x9f || r >= 0x202a && r <= 0x202e || r == '\u2028' || r == '\u2029'
}
