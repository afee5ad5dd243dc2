package config

import (
	"bytes"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/sessiond/sessiond/internal/testenv"
)

func TestRunValidate_ExitCodes(t *testing.T) {
	dir := t.TempDir()
	syntax := testenv.WriteFile(t, dir, "syntax.yaml", "cookie: {secure: true\n")
	notMapping := testenv.WriteFile(t, dir, "scalar.yaml", "just some text\n")
	tests := []struct {
		name       string
		args       []string
		want       int
		wantStderr string
	}{
		{"clean", []string{"testdata/validate/good.yaml"}, ExitOK, ""},
		{"warnings only", []string{"testdata/validate/defaults.yaml"}, ExitOK, ""},
		{"errors", []string{"testdata/validate/cookies.yaml"}, ExitFindings, ""},
		{"unknown keys are findings", []string{"testdata/validate/schema.yaml"}, ExitFindings, ""},
		{"flags after the file", []string{"testdata/validate/cookies-dev.yaml", "--env", "production", "--format", "json"}, ExitFindings, ""},
		{"development turns errors into warnings", []string{"--env=development", "testdata/validate/ops-dev.yaml"}, ExitOK, ""},
		{"missing file", []string{filepath.Join(dir, "nope.yaml")}, ExitUsage, "no such file"},
		{"directory", []string{dir}, ExitUsage, "sessiond config validate"},
		{"YAML syntax error", []string{syntax}, ExitUsage, "invalid YAML"},
		{"not a mapping", []string{notMapping}, ExitUsage, "invalid YAML"},
		{"bad format", []string{"--format", "xml", "testdata/validate/good.yaml"}, ExitUsage, "--format"},
		{"bad env", []string{"--env", "staging", "testdata/validate/good.yaml"}, ExitUsage, "--env"},
		{"format twice", []string{"--format", "sarif", "testdata/validate/good.yaml", "--format", "text"}, ExitUsage, "--format given 2 times; give it once"},
		{"env twice", []string{"--env=production", "--env=development", "testdata/validate/good.yaml"}, ExitUsage, "--env given 2 times; give it once"},
		{"format three times, one value", []string{"--format=text", "-format", "text", "testdata/validate/good.yaml", "--format", "text"}, ExitUsage, "--format given 3 times"},
		{"unknown flag", []string{"--verbose", "testdata/validate/good.yaml"}, ExitUsage, "flag provided but not defined"},
		{"no file", nil, ExitUsage, "exactly one FILE"},
		{"two files", []string{"testdata/validate/good.yaml", "testdata/validate/store.yaml"}, ExitUsage, "exactly one FILE"},
		{"help", []string{"-h"}, ExitOK, "usage:"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			got := RunValidate(tt.args, &stdout, &stderr)
			if got != tt.want {
				t.Errorf("RunValidate(%q) = %d; want %d\nstdout: %s\nstderr: %s", tt.args, got, tt.want, stdout.String(), stderr.String())
			}
			if tt.wantStderr != "" && !strings.Contains(stderr.String(), tt.wantStderr) {
				t.Errorf("stderr = %q; want it to contain %q", stderr.String(), tt.wantStderr)
			}
			if tt.want == ExitUsage && stdout.Len() > 0 {
				t.Errorf("usage failure wrote a report: %s", stdout.String())
			}
		})
	}
}

// TestRunValidate_UsageDefaults: the usage printed after a refused command
// line says each flag's default once (the flag package adds "(default
// text)" itself).
func TestRunValidate_UsageDefaults(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if code := RunValidate(nil, &stdout, &stderr); code != ExitUsage {
		t.Fatalf("RunValidate() = %d; want %d", code, ExitUsage)
	}
	if got := strings.Count(stderr.String(), "(default text)"); got != 1 {
		t.Errorf("usage says \"(default text)\" %d times; want once:\n%s", got, stderr.String())
	}
}

// TestRunValidate_DoubleDash: what config validate prints about its flags
// (the usage after a refused command line, -help, an error naming a flag)
// spells them --env and --format, as every other command's help does, not
// the flag package's -env and -format. The single-dash spellings it has
// always taken still work.
func TestRunValidate_DoubleDash(t *testing.T) {
	goStyle := regexp.MustCompile(`(^|[\s:])-(env|format|verbose)\b`)
	for _, tc := range []struct {
		name string
		args []string
		want int
	}{
		{"no file", nil, ExitUsage},
		{"-help", []string{"-help"}, ExitOK},
		{"--h", []string{"--h"}, ExitOK},
		{"unknown flag", []string{"--verbose", "testdata/validate/good.yaml"}, ExitUsage},
		{"unknown single-dash flag", []string{"-verbose", "testdata/validate/good.yaml"}, ExitUsage},
		{"flag without its value", []string{"testdata/validate/good.yaml", "--format"}, ExitUsage},
		{"format twice", []string{"--format", "json", "-format", "json", "testdata/validate/good.yaml"}, ExitUsage},
		{"bad env", []string{"-env", "staging", "testdata/validate/good.yaml"}, ExitUsage},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			if got := RunValidate(tc.args, &stdout, &stderr); got != tc.want {
				t.Errorf("RunValidate(%q) = %d; want %d (stderr %q)", tc.args, got, tc.want, stderr.String())
			}
			if m := goStyle.FindString(stderr.String()); m != "" {
				t.Errorf("RunValidate(%q) printed the Go-style %q:\n%s", tc.args, m, stderr.String())
			}
		})
	}
	for _, tc := range []struct {
		name     string
		old, new []string
	}{
		{"-env", []string{"-env", "production", "testdata/validate/cookies-dev.yaml"}, []string{"--env", "production", "testdata/validate/cookies-dev.yaml"}},
		{"-env=", []string{"-env=development", "testdata/validate/ops-dev.yaml"}, []string{"--env=development", "testdata/validate/ops-dev.yaml"}},
		{"-format", []string{"testdata/validate/cookies.yaml", "-format", "json"}, []string{"testdata/validate/cookies.yaml", "--format", "json"}},
		{"-format=", []string{"-format=sarif", "testdata/validate/good.yaml"}, []string{"--format=sarif", "testdata/validate/good.yaml"}},
	} {
		t.Run("still takes "+tc.name, func(t *testing.T) {
			var oldOut, newOut, stderr bytes.Buffer
			oldCode, newCode := RunValidate(tc.old, &oldOut, &stderr), RunValidate(tc.new, &newOut, &stderr)
			if oldCode != newCode || oldOut.String() != newOut.String() || oldCode == ExitUsage {
				t.Errorf("RunValidate(%q) = %d, %d bytes; RunValidate(%q) = %d, %d bytes; want the same, no usage error (stderr %q)",
					tc.old, oldCode, oldOut.Len(), tc.new, newCode, newOut.Len(), stderr.String())
			}
		})
	}
}
