package main

import (
	"database/sql"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestCLI_RefusesForeignSQLite: docs/operations.md says the first
// `sessiond migrate` of a new store needs --create and that without it "a
// schema or SQLite file holding no sessiond tables is refused (exit 1), as
// a likely typo". Only PostgreSQL was: a store.dsn naming another
// application's SQLite database, or an empty file, was given sessiond's
// tables by migrate, and keys and apikey blamed an older sessiond. Every
// command that opens the store refuses it now, naming the file and
// --create, and leaves it without sessiond tables; --create still makes
// the store, and a sessiond database still opens.
func TestCLI_RefusesForeignSQLite(t *testing.T) {
	dir := t.TempDir()
	foreign := filepath.Join(dir, "otherapp.db")
	db, err := sql.Open("sqlite", foreign)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec("CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT)"); err != nil {
		t.Fatal(err)
	}
	db.Close()
	empty := filepath.Join(dir, "empty.db")
	if err := os.WriteFile(empty, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	env := func(path string) []string {
		return []string{"SESSIOND_DATA=" + dir, "SESSIOND_STORE_DRIVER=sqlite", "SESSIOND_STORE_DSN=" + path}
	}
	commands := [][]string{{"migrate"}, {"migrate", "--check"}, {"keys", "list"}, {"keys", "rotate"}, {"apikey", "list"}, {"apikey", "create", "--name", "x"}}
	for _, path := range []string{foreign, empty} {
		for _, args := range commands {
			out, errOut, code := runCLI(t, env(path), args...)
			if code != 1 || out != "" || !strings.Contains(errOut, "holds no sessiond tables") || !strings.Contains(errOut, path) || !strings.Contains(errOut, "--create") {
				t.Errorf("sessiond %v on %s, a SQLite file holding no sessiond tables = exit %d, stdout %q, stderr %q; want exit 1 naming the file and --create",
					args, filepath.Base(path), code, out, errOut)
			}
			if hasSessiondTables(t, path) {
				t.Fatalf("sessiond %v gave %s sessiond's tables; want the file untouched", args, filepath.Base(path))
			}
		}
	}

	// --create makes the store in the empty file; a sessiond database then
	// opens without it.
	if _, errOut, code := runCLI(t, env(empty), "migrate", "--create"); code != 0 || !hasSessiondTables(t, empty) {
		t.Fatalf("migrate --create on an empty file = exit %d, %q; want the store made", code, errOut)
	}
	if out, errOut, code := runCLI(t, env(empty), "keys", "list", "--create"); code != 0 || strings.Count(out, "\n") != 2 {
		t.Fatalf("keys list --create = exit %d, %q %q; want one new key", code, out, errOut)
	}
	for _, args := range [][]string{{"migrate"}, {"migrate", "--check"}, {"keys", "list"}, {"apikey", "list"}} {
		if out, errOut, code := runCLI(t, env(empty), args...); code != 0 {
			t.Errorf("sessiond %v on a sessiond database = exit %d, stdout %q, stderr %q; want success", args, code, out, errOut)
		}
	}
}

// hasSessiondTables reports whether the SQLite file at path holds
// sessiond's migration table.
func hasSessiondTables(t *testing.T, path string) bool {
	t.Helper()
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var n int
	if err := db.QueryRow("SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name = 'schema_migrations'").Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n != 0
}
