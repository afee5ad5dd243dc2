//go:build unix

package server_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/sessiond/sessiond/internal/testenv"

	"github.com/sessiond/sessiond/internal/config"
	"github.com/sessiond/sessiond/internal/server"
)

// TestSigningKEKs_FIFO: a FIFO as signing.kek_file or one of
// signing.old_kek_files is refused at once, naming it, instead of blocking
// serve at start until something writes to it.
func TestSigningKEKs_FIFO(t *testing.T) {
	fifo := testenv.FIFO(t)
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
			testenv.NotBlockedOn(t, fifo, func() {
				_, _, err = server.SigningKEKs(cfg, func(string) string { return kekText(1) })
			})
			if !errors.Is(err, config.ErrSecretNotRegular) || !strings.Contains(err.Error(), tc.name+": "+fifo) {
				t.Errorf("SigningKEKs = %v; want ErrSecretNotRegular naming %s and %s", err, tc.name, fifo)
			}
		})
	}
}
