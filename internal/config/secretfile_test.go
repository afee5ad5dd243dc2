//go:build unix

package config

import (
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
