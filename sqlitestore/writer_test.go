package sqlitestore

import (
	"database/sql"
	"path/filepath"
	"strconv"
	"testing"
)

// TestWriter_CacheSize: the writer's connection keeps a larger page cache
// than SQLite's default, also after it was lost and taken again.
func TestWriter_CacheSize(t *testing.T) {
	s, err := New(t.Context(), filepath.Join(t.TempDir(), "w.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	want := "-" + strconv.Itoa(writerCacheKiB)
	check := func(when string) {
		t.Helper()
		var got string
		if err := s.wconn.QueryRowContext(t.Context(), "PRAGMA cache_size").Scan(&got); err != nil || got != want {
			t.Errorf("%s: writer's PRAGMA cache_size = %q, %v; want %q", when, got, err, want)
		}
	}
	check("after New")
	_ = s.wconn.Close() // lost: the next write takes another connection
	if err := s.write(t.Context(), "touch", func(tx *sql.Tx) error { return nil }); err != nil {
		t.Fatalf("write after losing the writer's connection = %v; want nil", err)
	}
	check("after a new writer connection")
}
