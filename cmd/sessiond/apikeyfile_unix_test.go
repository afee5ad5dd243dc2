//go:build unix

package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sessiond/sessiond/internal/config"
	"github.com/sessiond/sessiond/internal/testenv"
)

// TestCLI_APIKeyFileRefused: the client commands, without SESSIOND_API_KEY,
// read <data>/api-key; when they cannot, they say why, naming the file
// (never quoting it): a FIFO there is refused at once instead of waiting
// for a writer, and a missing file, a directory or an unreadable file each
// reads as what it is rather than as "missing", as does one too large
// to be a key.
func TestCLI_APIKeyFileRefused(t *testing.T) {
	const mark = "sdak_do_not_print_me"
	for _, cmd := range []struct {
		name string
		args []string
	}{
		{"sessions list", []string{"sessions", "list", "--subject", "alice"}},
		{"bench", []string{"bench", "verify", "--duration", "1s"}},
	} {
		for _, tc := range []struct {
			name string
			// place puts something at keyFile and returns the FIFO the
			// command may block on ("" for none).
			place  func(t *testing.T, keyFile string) string
			reason string
		}{
			{"FIFO", func(t *testing.T, keyFile string) string {
				fifo := testenv.FIFO(t)
				if err := os.Symlink(fifo, keyFile); err != nil {
					t.Fatal(err)
				}
				return fifo
			}, "not a regular file (a named pipe)"},
			{"directory", func(t *testing.T, keyFile string) string {
				if err := os.Mkdir(keyFile, 0o700); err != nil {
					t.Fatal(err)
				}
				return ""
			}, "not a regular file (a directory)"},
			{"missing", func(*testing.T, string) string { return "" }, "no such file or directory"},
			{"too large", func(t *testing.T, keyFile string) string {
				testenv.WriteFile(t, filepath.Dir(keyFile), filepath.Base(keyFile), strings.Repeat(mark, config.MaxSecretFileSize/len(mark)+1))
				return ""
			}, "too large for a secret file"},
			{"unreadable", func(t *testing.T, keyFile string) string {
				if os.Geteuid() == 0 {
					t.Skip("root reads a file of mode 0000")
				}
				if err := os.WriteFile(keyFile, []byte(mark+"\n"), 0o000); err != nil {
					t.Fatal(err)
				}
				return ""
			}, "permission denied"},
		} {
			t.Run(cmd.name+"/"+tc.name, func(t *testing.T) {
				data := t.TempDir()
				keyFile := filepath.Join(data, "api-key")
				fifo := tc.place(t, keyFile)
				var (
					errOut string
					code   int
				)
				// Port 1 on loopback: nothing is asked of it if the key is refused.
				args := append(cmd.args, "--data", data, "--url", "http://127.0.0.1:1")
				run := func() { _, errOut, code = runInProcess(nil, args...) }
				if fifo != "" {
					testenv.NotBlockedOn(t, fifo, run)
				} else {
					run()
				}
				if code != exitFailure || !strings.Contains(errOut, "no API key") || !strings.Contains(errOut, keyFile) ||
					!strings.Contains(errOut, tc.reason) || strings.Contains(errOut, mark) {
					t.Errorf("sessiond %s with %s as %s = exit %d, stderr %.600q; want %d naming it and saying %q", cmd.name, tc.name, keyFile, code, errOut, exitFailure, tc.reason)
				}
			})
		}
	}
}
