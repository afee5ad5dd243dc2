package config

import (
	"strings"
	"testing"
)

// wantFinding parses yaml, validates it for env and checks the finding of
// rule at path: none when severity is "", else one of that severity whose
// message contains msg (a msg ending in \x00 must end the message).
func wantFinding(t *testing.T, yaml, env, rule, path string, severity Severity, msg string) {
	t.Helper()
	cfg, doc, err := Parse([]byte(yaml), "t.yaml")
	if doc == nil {
		t.Fatalf("Parse: %v", err)
	}
	var got *Finding
	all := Validate(cfg, doc, env)
	for i, f := range all {
		if f.RuleID == rule && f.Path == path {
			got = &all[i]
		}
	}
	switch {
	case severity == "" && got != nil:
		t.Errorf("Validate = %s %s %q; want no such finding", got.RuleID, got.Severity, got.Message)
	case severity != "" && got == nil:
		t.Errorf("Validate has no %s finding at %s; findings: %+v", rule, path, all)
	case got != nil && (got.Severity != severity || !strings.Contains(got.Message+"\x00", msg)):
		t.Errorf("Validate = %s %q; want %s containing %q", got.Severity, got.Message, severity, strings.TrimSuffix(msg, "\x00"))
	}
}
