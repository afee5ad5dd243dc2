//go:build unix

package config

import (
	"testing"

	"github.com/sessiond/sessiond/internal/testenv"
)

// TestValidate_SecretFileIsFIFO: the validator reads secret files only to
// measure them, and only regular ones; a FIFO with no writer must not hang
// it (nor serve, which runs it).
func TestValidate_SecretFileIsFIFO(t *testing.T) {
	fifo := testenv.FIFO(t)
	for _, tc := range []struct {
		name string
		set  func(*Config)
	}{
		{"jwt.hs256_secret_file", func(c *Config) { c.JWT.Algorithm, c.JWT.HS256SecretFile = "HS256", fifo }},
		{"webhooks.0.secret_file", func(c *Config) {
			c.Webhooks = []Webhook{{Name: "w", URL: "https://hooks.example.com/x", SecretFile: fifo, MaxAttempts: 8}}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := Default()
			tc.set(&cfg)
			testenv.NotBlockedOn(t, fifo, func() { Validate(cfg, nil, "") })
		})
	}
}
