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
// a writer: 78, as for any configuration problem (a missing KEK file
// included).
func TestServe_SecretFileIsFIFO(t *testing.T) {
	for _, tc := range []struct {
		name, yaml string
		code       int
	}{
		{"jwt.hs256_secret_file", "strategy: jwt\njwt:\n  algorithm: HS256\n  hs256_secret_file: %s\n", exitConfig},
		{"signing.kek_file", "signing:\n  kek_file: %s\n", exitConfig},
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

// TestConfigFileIsFIFO: a FIFO as the configuration file (config validate
// FILE, serve --config, SESSIOND_CONFIG) is refused at once, naming it:
// config validate exits 2 (the file cannot be read), serve 78. Both used
// to wait for a writer forever, with SIGTERM trapped.
func TestConfigFileIsFIFO(t *testing.T) {
	// A data directory serve cannot create: should serve get past the
	// FIFO (NotBlockedOn opens it for writing after 30 s, and serve would
	// then read an empty file), it fails there instead of serving on.
	data := filepath.Join(testenv.WriteFile(t, t.TempDir(), "file", ""), "data")
	for _, tc := range []struct {
		name string
		env  func(fifo string) []string
		args func(fifo string) []string
		code int
	}{
		{"config validate", nil, func(fifo string) []string { return []string{"config", "validate", fifo} }, exitUsage},
		{"serve --config", nil, func(fifo string) []string {
			return []string{"serve", "--config", fifo, "--listen", "127.0.0.1:0", "--data", data}
		}, exitConfig},
		{"serve with SESSIOND_CONFIG", func(fifo string) []string { return []string{"SESSIOND_CONFIG=" + fifo} },
			func(string) []string { return []string{"serve", "--listen", "127.0.0.1:0", "--data", data} }, exitConfig},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fifo := testenv.FIFO(t)
			var env []string
			if tc.env != nil {
				env = tc.env(fifo)
			}
			var (
				errOut string
				code   int
			)
			testenv.NotBlockedOn(t, fifo, func() { _, errOut, code = runInProcess(env, tc.args(fifo)...) })
			if code != tc.code || !strings.Contains(errOut, "config: "+fifo+": not a regular file (a named pipe)") {
				t.Errorf("%s with a FIFO as the configuration file = exit %d, stderr %.600q; want %d naming it", tc.name, code, errOut, tc.code)
			}
		})
	}
}
