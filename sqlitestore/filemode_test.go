package sqlitestore_test

import (
	"bytes"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/sqlitestore"
)

// TestNew_TightensFileModes: New made the database readable by its owner
// only when it created the file. One already there with mode 0644
// (restored from a backup under umask 022, made by touch) kept it, and
// SQLite gives the -wal and -shm it creates that mode: every file of the
// store, signing keys in clear included when no KEK seals them, stayed
// readable by every local user. New now takes group and other access
// away from the file and from a -wal and -shm already there, and logs a
// warning naming each file it changed.
func TestNew_TightensFileModes(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("no mode bits on Windows")
	}
	cases := []struct {
		name string
		// prepare leaves the store's files at path with loose modes and
		// returns the paths New must tighten.
		prepare func(t *testing.T, path string) []string
	}{
		{"empty file", func(t *testing.T, path string) []string {
			if err := os.WriteFile(path, nil, 0o644); err != nil {
				t.Fatal(err)
			}
			chmod(t, 0o644, path)
			return []string{path}
		}},
		{"store with its -wal and -shm", func(t *testing.T, path string) []string {
			// A server holds the store open, so its -wal and -shm stay;
			// New runs beside it as the CLI's commands do.
			running := open(t, path)
			s := session("bob")
			if err := running.Create(t.Context(), s, token(sessiond.KindRefresh, s.ID, "b")); err != nil {
				t.Fatal(err)
			}
			files := []string{path, path + "-wal", path + "-shm"}
			chmod(t, 0o664, files...)
			return files
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "sessions.db")
			loose := tc.prepare(t, path)
			var logs bytes.Buffer
			st, err := sqlitestore.New(t.Context(), path, sqlitestore.Options{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
			if err != nil {
				t.Fatalf("New() = %v; want nil", err)
			}
			defer st.Close()
			s := session("alice")
			if err := st.Create(t.Context(), s, token(sessiond.KindRefresh, s.ID, "r")); err != nil {
				t.Fatal(err)
			}
			for _, p := range []string{path, path + "-wal", path + "-shm"} {
				fi, err := os.Stat(p)
				if err != nil {
					t.Errorf("Stat(%s) = %v", p, err)
					continue
				}
				if perm := fi.Mode().Perm(); perm != 0o600 {
					t.Errorf("%s mode = %v after New; want -rw-------", filepath.Base(p), perm)
				}
			}
			for _, p := range loose {
				if line := logLine(logs.String(), p); !strings.Contains(line, "level=WARN") {
					t.Errorf("log %q has no warning naming %s; want one", logs.String(), p)
				}
			}
		})
	}
}

// TestNew_KeepsOwnerOnlyModes: a store already readable by its owner
// only is left alone, without a warning.
func TestNew_KeepsOwnerOnlyModes(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sessions.db")
	if err := open(t, path).Close(); err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	st, err := sqlitestore.New(t.Context(), path, sqlitestore.Options{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatalf("New() = %v; want nil", err)
	}
	defer st.Close()
	if strings.Contains(logs.String(), "level=WARN") {
		t.Errorf("New on a store of mode 0600 logged %q; want no warning", logs.String())
	}
}

func chmod(t *testing.T, mode os.FileMode, paths ...string) {
	t.Helper()
	for _, p := range paths {
		if err := os.Chmod(p, mode); err != nil {
			t.Fatal(err)
		}
	}
}

// logLine is the line of logs whose path attribute is p, or "".
func logLine(logs, p string) string {
	for line := range strings.Lines(logs) {
		if strings.Contains(line, "path="+p+" ") || strings.Contains(line, "path="+p+"\n") {
			return line
		}
	}
	return ""
}
