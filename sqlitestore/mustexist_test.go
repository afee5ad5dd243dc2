package sqlitestore_test

import (
	"crypto/sha256"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/sqlitestore"
)

// TestNew_MustExist: with MustExist, New opens a sessiond database but
// refuses, as a likely typo in the path, a file that is missing or holds
// no sessiond tables: another application's database, or an empty file.
// A refused file is left exactly as it was: no table added, its rollback
// journal not switched to WAL, nothing created beside it.
func TestNew_MustExist(t *testing.T) {
	cases := []struct {
		name    string
		make    func(t *testing.T, path string) // nil: no file
		wantErr error                           // nil: opened
	}{
		{"a sessiond database", func(t *testing.T, path string) {
			st := open(t, path)
			if err := st.Close(); err != nil {
				t.Fatal(err)
			}
		}, nil},
		{"another application's database", func(t *testing.T, path string) {
			db, err := sql.Open("sqlite", path) // no pragma: a rollback journal
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			if _, err := db.ExecContext(t.Context(), "CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT)"); err != nil {
				t.Fatal(err)
			}
		}, sessiond.ErrNotFound},
		{"an empty file", func(t *testing.T, path string) {
			if err := os.WriteFile(path, nil, 0o600); err != nil {
				t.Fatal(err)
			}
		}, sessiond.ErrNotFound},
		{"a missing file", nil, sessiond.ErrNotFound},
		{"a file that is not a database", func(t *testing.T, path string) {
			if err := os.WriteFile(path, []byte(strings.Repeat("not a database\n", 100)), 0o600); err != nil {
				t.Fatal(err)
			}
		}, sessiond.ErrStoreUnavailable},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "data")
			if tc.make != nil {
				if err := os.Mkdir(dir, 0o700); err != nil {
					t.Fatal(err)
				}
				tc.make(t, filepath.Join(dir, "s.db"))
			}
			path := filepath.Join(dir, "s.db")
			before := snapshot(t, dir)
			st, err := sqlitestore.New(t.Context(), path, sqlitestore.Options{MustExist: true})
			if err == nil {
				defer st.Close()
			}
			if tc.wantErr == nil {
				if err != nil {
					t.Fatalf("New(MustExist) on %s = %v; want nil", tc.name, err)
				}
				if err := st.Ping(t.Context()); err != nil {
					t.Errorf("Ping() = %v; want nil", err)
				}
				return
			}
			if !errors.Is(err, tc.wantErr) || !strings.Contains(fmt.Sprint(err), path) && errors.Is(tc.wantErr, sessiond.ErrNotFound) {
				t.Errorf("New(MustExist) on %s = %v; want an error matching %v (naming the file)", tc.name, err, tc.wantErr)
			}
			if after := snapshot(t, dir); after != before {
				t.Errorf("New(MustExist) on %s changed its directory from %s to %s; want it untouched", tc.name, before, after)
			}
		})
	}
}

// TestNew_WithoutMustExist: without MustExist (serve, sessiond migrate
// --create), an empty file becomes a store, as before.
func TestNew_WithoutMustExist(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s.db")
	if err := os.WriteFile(path, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := open(t, path).Ping(t.Context()); err != nil {
		t.Errorf("New on an empty file, then Ping() = %v; want nil", err)
	}
}

// snapshot describes what dir holds: each file's name, mode and content
// hash, or that dir does not exist.
func snapshot(t *testing.T, dir string) string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return "no directory"
	} else if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, e := range entries {
		p := filepath.Join(dir, e.Name())
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&b, "[%s %v %d bytes sha256 %x]", e.Name(), fi.Mode().Perm(), len(data), sha256.Sum256(data))
	}
	return b.String()
}
