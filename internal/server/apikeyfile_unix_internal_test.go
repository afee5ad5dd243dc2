//go:build unix

package server

import (
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sessiond/sessiond/internal/apikey"
	"github.com/sessiond/sessiond/internal/config"
	"github.com/sessiond/sessiond/internal/testenv"
	"github.com/sessiond/sessiond/memstore"
)

// TestSeedAPIKey_NotARegularFile: the generated key is written only to a
// regular file. A FIFO at <data>/api-key is refused at once instead of
// waiting for a reader; a symbolic link is not followed (the file it
// points to is left as it was); a directory or a socket is refused. Each
// refusal wraps config.ErrSecretNotRegular and names the file.
func TestSeedAPIKey_NotARegularFile(t *testing.T) {
	const victimText = "not to be overwritten\n"
	for _, tc := range []struct {
		name string
		// place puts something at path; it returns the FIFO it may block
		// on ("" for none) and the file that must keep victimText ("" for
		// none).
		place func(t *testing.T, path string) (fifo, victim string)
		kind  string
	}{
		{"FIFO", func(t *testing.T, path string) (string, string) {
			if err := os.Rename(testenv.FIFO(t), path); err != nil {
				t.Fatal(err)
			}
			return path, ""
		}, "a named pipe"},
		{"FIFO with a reader", func(t *testing.T, path string) (string, string) {
			// Opened for writing, it is the opened file's check that refuses it.
			if err := os.Rename(testenv.FIFO(t), path); err != nil {
				t.Fatal(err)
			}
			r, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { r.Close() })
			return "", ""
		}, "a named pipe"},
		{"symbolic link to a FIFO", func(t *testing.T, path string) (string, string) {
			fifo := testenv.FIFO(t)
			symlink(t, fifo, path)
			return fifo, ""
		}, "a symbolic link"},
		{"symbolic link to a regular file", func(t *testing.T, path string) (string, string) {
			victim := testenv.WriteFile(t, t.TempDir(), "sessiond.db", victimText)
			symlink(t, victim, path)
			return "", victim
		}, "a symbolic link"},
		{"directory", func(t *testing.T, path string) (string, string) {
			if err := os.Mkdir(path, 0o700); err != nil {
				t.Fatal(err)
			}
			return "", ""
		}, "a directory"},
		{"socket", func(t *testing.T, path string) (string, string) {
			ln, err := net.Listen("unix", path)
			if err != nil {
				t.Skipf("unix socket: %v", err)
			}
			t.Cleanup(func() { ln.Close() })
			return "", ""
		}, "a socket"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := config.Default()
			cfg.Server.DataDir = t.TempDir()
			path := filepath.Join(cfg.Server.DataDir, APIKeyFile)
			fifo, victim := tc.place(t, path)
			keys := apikey.New(memstore.New(), nil, time.Second)
			var err error
			seed := func() { _, err = seedAPIKey(t.Context(), cfg, "", keys) }
			if fifo != "" {
				testenv.NotBlockedOn(t, fifo, seed)
			} else {
				seed()
			}
			if !errors.Is(err, config.ErrSecretNotRegular) || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), tc.kind) {
				t.Errorf("seedAPIKey() with %s at %s = %v; want ErrSecretNotRegular naming it as %s", tc.name, path, err, tc.kind)
			}
			if victim != "" {
				if b, err := os.ReadFile(victim); err != nil || string(b) != victimText {
					t.Errorf("the file the link points to holds %q (%v); want it unchanged, %q", b, err, victimText)
				}
			}
		})
	}
}

func symlink(t *testing.T, target, path string) {
	t.Helper()
	if err := os.Symlink(target, path); err != nil {
		t.Fatal(err)
	}
}
