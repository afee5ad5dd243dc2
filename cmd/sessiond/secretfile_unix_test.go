//go:build unix

package main

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sessiond/sessiond/internal/testenv"

	"github.com/sessiond/sessiond/internal/config"
)

// TestApp_HMACSecretFIFO: a FIFO as jwt.hs256_secret_file is refused at
// once, naming it; it used to block the keys commands, and serve, at start.
func TestApp_HMACSecretFIFO(t *testing.T) {
	fifo := testenv.FIFO(t)
	cfg := config.Default()
	cfg.JWT.Algorithm, cfg.JWT.HS256SecretFile = "HS256", fifo
	var err error
	testenv.NotBlockedOn(t, fifo, func() { _, err = (&app{}).hmacSecret(cfg) })
	if !errors.Is(err, config.ErrSecretNotRegular) || !strings.Contains(err.Error(), fifo) || !strings.Contains(err.Error(), "named pipe") {
		t.Fatalf("hmacSecret(FIFO) = %v; want ErrSecretNotRegular naming %s as a named pipe", err, fifo)
	}
}

// TestServe_SecretFileIsFIFO: serve given a FIFO as its HS256 secret file
// or its KEK file exits, naming the file, instead of waiting at start for
// a writer: 78 for the HS256 secret (as for any unreadable one), 1 for the
// KEK (as for a missing KEK file).
func TestServe_SecretFileIsFIFO(t *testing.T) {
	for _, tc := range []struct {
		name, yaml string
		code       int
	}{
		{"jwt.hs256_secret_file", "strategy: jwt\njwt:\n  algorithm: HS256\n  hs256_secret_file: %s\n", exitConfig},
		{"signing.kek_file", "signing:\n  kek_file: %s\n", exitFailure},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fifo := testenv.FIFO(t)
			cfg := filepath.Join(t.TempDir(), "sessiond.yaml")
			if err := os.WriteFile(cfg, []byte(strings.ReplaceAll(tc.yaml, "%s", fifo)), 0o600); err != nil {
				t.Fatal(err)
			}
			var (
				errOut string
				code   int
			)
			testenv.NotBlockedOn(t, fifo, func() {
				_, errOut, code = runInProcess([]string{"SESSIOND_API_KEY=" + testAPIKey},
					"serve", "--config", cfg, "--listen", "127.0.0.1:0", "--data", t.TempDir())
			})
			if code != tc.code || !strings.Contains(errOut, tc.name) || !strings.Contains(errOut, fifo+": not a regular file (a named pipe)") {
				t.Errorf("serve with a FIFO as %s = exit %d, stderr %.600q; want %d naming it", tc.name, code, errOut, tc.code)
			}
		})
	}
}

// TestServe_APIKeyFileIsFIFO: serve, writing the API key it generates on
// first start to <data>/api-key, refuses a FIFO there at once, naming it,
// instead of waiting for a reader forever.
func TestServe_APIKeyFileIsFIFO(t *testing.T) {
	data := t.TempDir()
	keyFile := filepath.Join(data, "api-key")
	if err := os.Rename(testenv.FIFO(t), keyFile); err != nil {
		t.Fatal(err)
	}
	var (
		errOut string
		code   int
	)
	testenv.NotBlockedOn(t, keyFile, func() {
		_, errOut, code = runInProcess(nil, "serve", "--listen", "127.0.0.1:0", "--data", data)
	})
	if code != exitFailure || !strings.Contains(errOut, "write API key: "+keyFile+": not a regular file (a named pipe)") {
		t.Errorf("serve with a FIFO as %s = exit %d, stderr %.600q; want %d naming it", keyFile, code, errOut, exitFailure)
	}
}
