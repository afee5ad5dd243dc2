//go:build unix

package config

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sessiond/sessiond/internal/testenv"
)

// TestValidate_SecretFileIsFIFO: the validator reads secret files only to
// measure them, and only regular ones; a FIFO with no writer must not hang
// it (nor serve, which runs it). A rule that reports an unreadable file
// reports the FIFO at its path (finding).
func TestValidate_SecretFileIsFIFO(t *testing.T) {
	fifo := testenv.FIFO(t)
	for _, tc := range []struct {
		name    string
		set     func(*Config)
		finding string // path that must carry a finding; "" for none asked
	}{
		{"jwt.hs256_secret_file", func(c *Config) { c.JWT.Algorithm, c.JWT.HS256SecretFile = "HS256", fifo }, ""},
		{"webhooks.0.secret_file", func(c *Config) {
			c.Webhooks = []Webhook{{Name: "w", URL: "https://hooks.example.com/x", SecretFile: fifo, MaxAttempts: 8}}
		}, ""},
		{"ssf.receivers.0.bearer_token_file", func(c *Config) {
			c.SSF.Receivers = []SSFReceiver{{Name: "idp", Issuer: "https://idp.example", Audience: "sessiond",
				JWKSURL: "https://idp.example/jwks", SubjectFormat: "email", Path: "/ssf/idp", BearerTokenFile: fifo}}
		}, "ssf.receivers.0.bearer_token_file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := Default()
			tc.set(&cfg)
			var findings []Finding
			testenv.NotBlockedOn(t, fifo, func() { findings = Validate(cfg, nil, EnvProduction) })
			if tc.finding == "" {
				return
			}
			for _, f := range findings {
				if f.Path == tc.finding {
					return
				}
			}
			t.Errorf("Validate = %v; want a finding at %s (a FIFO is not a readable secret file)", findings, tc.finding)
		})
	}
}

// TestLoad_FIFO: a FIFO as the configuration file is refused at once,
// naming it, instead of waiting for a writer (serve and config validate
// used to hang there, SIGTERM trapped); the other unreadable files keep
// their messages.
func TestLoad_FIFO(t *testing.T) {
	fifo := testenv.FIFO(t)
	var (
		doc *Document
		err error
	)
	testenv.NotBlockedOn(t, fifo, func() { _, doc, err = Load(fifo) })
	if doc != nil || !errors.Is(err, ErrSecretNotRegular) || err.Error() != "config: "+fifo+": not a regular file (a named pipe)" {
		t.Errorf("Load(FIFO) = %v, doc %v; want ErrSecretNotRegular naming %s as a named pipe", err, doc, fifo)
	}
	dir := t.TempDir()
	for _, tc := range []struct{ path, want string }{
		{dir, "config: read " + dir + ": is a directory"},
		{filepath.Join(dir, "missing.yaml"), "config: open " + filepath.Join(dir, "missing.yaml") + ": no such file or directory"},
		{testenv.WriteFile(t, dir, "big.yaml", "# "+strings.Repeat("x", MaxFileBytes)+"\n"),
			fmt.Sprintf("config: %s: larger than %d bytes", filepath.Join(dir, "big.yaml"), MaxFileBytes)},
	} {
		if _, doc, err := Load(tc.path); doc != nil || err == nil || err.Error() != tc.want {
			t.Errorf("Load(%s) = %v, doc %v; want %q", tc.path, err, doc, tc.want)
		}
	}
	ok := testenv.WriteFile(t, dir, "ok.yaml", "strategy: jwt\n")
	if cfg, doc, err := Load(ok); err != nil || doc == nil || cfg.Strategy != "jwt" {
		t.Errorf("Load(regular file) = %v, doc %v, strategy %q; want it read", err, doc, cfg.Strategy)
	}
}
