package pgstore_test

import (
	"slices"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/sessiond/sessiond/pgstore"
)

// TestStore_Autovacuum: the store reports the server's autovacuum and
// track_counts as PostgreSQL shows them (off on some test servers, on on
// others: both are read, neither assumed), and its own tables that turn
// autovacuum off for themselves, however the parameter is spelled; not
// another application's table in the same schema (the default, public,
// is shared), which sessiond has no say over.
func TestStore_Autovacuum(t *testing.T) {
	dsn := testDSN(t)
	st, schema := newStore(t, pgstore.Options{})
	ctx := t.Context()
	wantOn := queryOne[bool](t, dsn, "SELECT current_setting('autovacuum')::bool")
	wantCounts := queryOne[bool](t, dsn, "SELECT current_setting('track_counts')::bool")
	check := func(what string, off []string) {
		t.Helper()
		a, err := st.Autovacuum(ctx)
		if err != nil {
			t.Fatalf("%s: Autovacuum() = %v; want nil", what, err)
		}
		if a.Enabled != wantOn || a.TrackCounts != wantCounts || !slices.Equal(a.Off, off) || a.Runs() != (wantOn && wantCounts && len(off) == 0) {
			t.Errorf("%s: Autovacuum() = %+v, Runs %v; want autovacuum %v, track_counts %v, off for %q", what, a, a.Runs(), wantOn, wantCounts, off)
		}
	}
	check("fresh schema", nil)
	table := func(name string) string { return pgx.Identifier{schema, name}.Sanitize() }
	for _, sql := range []string{
		"ALTER TABLE " + table("tokens") + " SET (autovacuum_enabled = 0)",
		"ALTER TABLE " + table("sessions") + " SET (autovacuum_enabled = off)",
		"ALTER TABLE " + table("events") + " SET (autovacuum_enabled = on, fillfactor = 90)",
		"CREATE TABLE " + table("app_audit") + " (id bigint) WITH (autovacuum_enabled = off)",
	} {
		if err := exec(ctx, dsn, sql); err != nil {
			t.Fatal(err)
		}
	}
	check("two tables off, one on", []string{"sessions", "tokens"})
	if err := exec(ctx, dsn, "ALTER TABLE "+table("sessions")+" RESET (autovacuum_enabled)"); err != nil {
		t.Fatal(err)
	}
	check("sessions reset", []string{"tokens"})
	// Every table the migrations create is looked at, however many
	// migrations come.
	created := queryOne[[]string](t, dsn, `SELECT array_agg(table_name::text ORDER BY table_name COLLATE "C") FROM information_schema.tables
		WHERE table_schema = $1 AND table_name NOT IN ('schema_migrations', 'app_audit')`, schema)
	if !slices.Equal(created, pgstore.StoreTables) {
		t.Errorf("the migrations create %q; Autovacuum looks at %q", created, pgstore.StoreTables)
	}
	st.Close()
	if _, err := st.Autovacuum(ctx); err == nil {
		t.Error("Autovacuum() on a closed store = nil; want an error")
	}
}
