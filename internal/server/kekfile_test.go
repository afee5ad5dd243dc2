//go:build unix

package server_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sessiond/sessiond/internal/config"
	"github.com/sessiond/sessiond/internal/server"
)

// TestSigningKEKs_FIFO: a FIFO as signing.kek_file or one of
// signing.old_kek_files is refused at once, naming it, instead of blocking
// serve at start until something writes to it.
func TestSigningKEKs_FIFO(t *testing.T) {
	fifo := filepath.Join(t.TempDir(), "kek")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Skipf("mkfifo: %v", err)
	}
	for _, tc := range []struct {
		name string
		set  func(*config.Config)
	}{
		{"signing.kek_file", func(c *config.Config) { c.Signing.KEKFile = fifo }},
		{"signing.old_kek_files[0]", func(c *config.Config) { c.Signing.OldKEKFiles = []string{fifo} }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := config.Default()
			tc.set(&cfg)
			var err error
			done := make(chan struct{})
			go func() {
				defer close(done)
				_, _, err = server.SigningKEKs(cfg, func(string) string { return kekText(1) })
			}()
			select {
			case <-done:
			case <-time.After(30 * time.Second):
				// A hang, not a slow run: a writer releases the blocked
				// open (non-blocking, in case it has just returned).
				if w, err := os.OpenFile(fifo, os.O_WRONLY|syscall.O_NONBLOCK, 0); err == nil {
					w.Close()
					<-done
				}
				t.Fatalf("SigningKEKs still waiting on the FIFO %s after 30s", tc.name)
			}
			if !errors.Is(err, config.ErrSecretNotRegular) || !strings.Contains(err.Error(), tc.name+": "+fifo) {
				t.Errorf("SigningKEKs = %v; want ErrSecretNotRegular naming %s and %s", err, tc.name, fifo)
			}
		})
	}
}
