//go:build unix

package config

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// TestValidate_SecretFileIsFIFO: the validator reads secret files only to
// measure them, and only regular ones; a FIFO with no writer must not hang
// it (nor serve, which runs it).
func TestValidate_SecretFileIsFIFO(t *testing.T) {
	fifo := filepath.Join(t.TempDir(), "secret")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Skipf("mkfifo: %v", err)
	}
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
			done := make(chan struct{})
			go func() { Validate(cfg, nil, ""); close(done) }()
			select {
			case <-done:
			case <-time.After(30 * time.Second):
				// Release the blocked open so the goroutine ends.
				if w, err := os.OpenFile(fifo, os.O_WRONLY, 0); err == nil {
					w.Close()
				}
				<-done
				t.Fatalf("Validate waited on the FIFO %s", tc.name)
			}
		})
	}
}
