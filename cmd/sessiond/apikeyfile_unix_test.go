//go:build unix

package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sessiond/sessiond/internal/testenv"
)

// TestCLI_APIKeyFileFIFO: the client commands, without SESSIOND_API_KEY,
// read <data>/api-key; a FIFO there is refused at once, naming the file,
// instead of waiting for a writer.
func TestCLI_APIKeyFileFIFO(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"sessions list", []string{"sessions", "list", "--subject", "alice"}},
		{"bench", []string{"bench", "verify", "--duration", "1s"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fifo := testenv.FIFO(t)
			data := t.TempDir()
			keyFile := filepath.Join(data, "api-key")
			if err := os.Symlink(fifo, keyFile); err != nil {
				t.Fatal(err)
			}
			var (
				errOut string
				code   int
			)
			// Port 1 on loopback: nothing is asked of it if the key is refused.
			args := append(tc.args, "--data", data, "--url", "http://127.0.0.1:1")
			testenv.NotBlockedOn(t, fifo, func() { _, errOut, code = runInProcess(nil, args...) })
			if code != exitFailure || !strings.Contains(errOut, "no API key") || !strings.Contains(errOut, keyFile) {
				t.Errorf("sessiond %s with a FIFO as %s = exit %d, stderr %.600q; want %d naming it", tc.name, keyFile, code, errOut, exitFailure)
			}
		})
	}
}
