package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestTrimLineEnds(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"key", "key"},
		{"key\n", "key"},
		{"key\r\n", "key"},
		{"key\n\n", "key"},
		{"key \n", "key "},
		{"key\t", "key\t"},
		{" key", " key"},
		{"\nkey", "\nkey"},
	} {
		if got := string(TrimLineEnds([]byte(tc.in))); got != tc.want {
			t.Errorf("TrimLineEnds(%q) = %q; want %q", tc.in, got, tc.want)
		}
	}
}

// TestValidate_SSFBearerTokenMeasuredAsUsed: the server trims every white
// space around an SSF receiver's bearer token, so the validator's
// 32-character floor is measured on the trimmed token too: 31 characters
// and a space or tab pass neither.
func TestValidate_SSFBearerTokenMeasuredAsUsed(t *testing.T) {
	for _, tc := range []struct {
		name    string
		content string
		short   bool
	}{
		{"32 characters", strings.Repeat("b", 32) + "\n", false},
		{"31 characters and a space", strings.Repeat("b", 31) + " \n", true},
		{"31 characters and a tab", "\t" + strings.Repeat("b", 31), true},
		{"31 characters", strings.Repeat("b", 31), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			file := filepath.Join(t.TempDir(), "bearer")
			if err := os.WriteFile(file, []byte(tc.content), 0o600); err != nil {
				t.Fatal(err)
			}
			cfg := Default()
			cfg.SSF.Receivers = []SSFReceiver{{Name: "idp", Issuer: "https://idp.example", Audience: "sessiond",
				JWKSURL: "https://idp.example/jwks", SubjectFormat: "email", Path: "/ssf/idp", BearerTokenFile: file}}
			found := false
			for _, f := range Validate(cfg, nil, EnvProduction) {
				// SD-SSF-004 judges these tokens of one letter, too.
				found = found || f.RuleID == "SD-SSF-001" && f.Path == "ssf.receivers.0.bearer_token_file"
			}
			if found != tc.short {
				t.Errorf("a finding at bearer_token_file = %v; want %v", found, tc.short)
			}
		})
	}
}
