package pgstore

import (
	"testing"

	"github.com/sessiond/sessiond/internal/migration"
)

// TestConcurrentIndex: the index a migration outside a transaction builds,
// as PostgreSQL names it (an unquoted name folds to lower case: the
// lookup of an INVALID leftover in pg_class must find it), or "" for a
// file Migrate could not resume.
func TestConcurrentIndex(t *testing.T) {
	for _, c := range []struct {
		name, sql, want string
	}{
		{"One", "CREATE INDEX CONCURRENTLY IF NOT EXISTS a_b ON a (b);", "a_b"},
		{"CommentsNewlines", "-- sessiond:no-transaction\n-- why; and how\n\ncreate unique index\n  concurrently if not exists\ta_b\non a (b)\nwhere c = ''\n", "a_b"},
		{"UpperCase", "CREATE INDEX CONCURRENTLY IF NOT EXISTS A_B ON a (b);", "a_b"},
		{"NotIfNotExists", "CREATE INDEX CONCURRENTLY a_b ON a (b);", ""},
		{"NotConcurrently", "CREATE INDEX IF NOT EXISTS a_b ON a (b);", ""},
		{"Quoted", `CREATE INDEX CONCURRENTLY IF NOT EXISTS "A b" ON a (b);`, ""},
		{"TwoStatements", "CREATE INDEX CONCURRENTLY IF NOT EXISTS a_b ON a (b); DROP TABLE c;", ""},
		{"TrailingComment", "CREATE INDEX CONCURRENTLY IF NOT EXISTS a_b ON a (b); -- done", ""},
	} {
		if got := concurrentIndex(migration.Migration{SQL: c.sql}); got != c.want {
			t.Errorf("%s: concurrentIndex(%q) = %q; want %q", c.name, c.sql, got, c.want)
		}
	}
}

// TestCheckOutside_Embedded: the embedded migrations that run outside a
// transaction are ones Migrate can resume, and 0012 is one of them.
func TestCheckOutside_Embedded(t *testing.T) {
	all, err := migration.Load(migrationFS, "migrations")
	if err != nil {
		t.Fatal(err)
	}
	if err := checkOutside(all); err != nil {
		t.Fatal(err)
	}
	for _, m := range all {
		if m.Version == 12 && (!m.NoTransaction || concurrentIndex(m) != "events_no_subject") {
			t.Errorf("%s: NoTransaction %v, index %q; want true, events_no_subject", m.Name, m.NoTransaction, concurrentIndex(m))
		}
	}
}
