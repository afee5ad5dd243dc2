package pgstore_test

import (
	"context"
	"errors"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/pgstore"
)

// migrationFiles counts the embedded migrations, as Migrate should record them.
func migrationFiles(t *testing.T) int {
	t.Helper()
	entries, err := os.ReadDir("migrations")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ".sql") {
			n++
		}
	}
	return n
}

func migrationCount(t *testing.T, dsn, schema string) int {
	t.Helper()
	return queryInt(t, dsn, "SELECT count(*) FROM "+pgx.Identifier{schema, "schema_migrations"}.Sanitize())
}

func TestStore_Migrate(t *testing.T) {
	testDSN(t) // skip once, not in every subtest
	t.Parallel()
	t.Run("Idempotent", func(t *testing.T) {
		t.Parallel()
		st, schema := newStore(t, pgstore.Options{})
		dsn := testDSN(t)
		want := migrationFiles(t)
		for i := range 3 {
			if err := st.Migrate(t.Context()); err != nil {
				t.Fatalf("Migrate() #%d = %v; want nil", i+2, err)
			}
		}
		if got := migrationCount(t, dsn, schema); got != want {
			t.Errorf("schema_migrations has %d rows after 4 migrations; want %d", got, want)
		}
		// A second store on the same schema finds nothing to do.
		if _, again := newStore(t, pgstore.Options{Schema: schema}); again != schema {
			t.Fatal("newStore changed the schema")
		}
		if got := migrationCount(t, dsn, schema); got != want {
			t.Errorf("schema_migrations has %d rows after a second New; want %d", got, want)
		}
		if err := st.Ping(t.Context()); err != nil {
			t.Errorf("Ping() = %v; want nil", err)
		}
	})
	t.Run("ConcurrentStart", func(t *testing.T) {
		t.Parallel()
		dsn := testDSN(t)
		schema := testSchema(t, dsn) // does not exist yet
		const nodes = 4
		errs := make([]error, nodes)
		start := make(chan struct{})
		var wg sync.WaitGroup
		for i := range nodes {
			wg.Go(func() {
				<-start
				st, err := pgstore.New(t.Context(), dsn, pgstore.Options{Schema: schema})
				errs[i] = err
				if err == nil {
					t.Cleanup(func() { st.Close() })
				}
			})
		}
		close(start)
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Errorf("New() on node %d of %d starting at once = %v; want nil", i, nodes, err)
			}
		}
		if got, want := migrationCount(t, dsn, schema), migrationFiles(t); got != want {
			t.Errorf("schema_migrations has %d rows after %d concurrent starts; want %d (each applied once)", got, nodes, want)
		}
	})
	t.Run("NewerSchema", func(t *testing.T) {
		t.Parallel()
		st, schema := newStore(t, pgstore.Options{})
		dsn := testDSN(t)
		if err := exec(t.Context(), dsn, "INSERT INTO "+pgx.Identifier{schema, "schema_migrations"}.Sanitize()+
			" (version, name) VALUES (9999, '9999_future.sql')"); err != nil {
			t.Fatal(err)
		}
		if err := st.Migrate(t.Context()); err == nil || !strings.Contains(err.Error(), "newer") {
			t.Errorf("Migrate() on a schema at version 9999 = %v; want an error saying it is newer", err)
		}
		if _, err := pgstore.New(context.Background(), dsn, pgstore.Options{Schema: schema}); err == nil {
			t.Error("New() on a schema at version 9999 = nil error; want an error")
		}
	})
	t.Run("NoMigrate", func(t *testing.T) {
		t.Parallel()
		_, schema := newStore(t, pgstore.Options{})
		dsn := testDSN(t)
		want := migrationFiles(t)
		st, err := pgstore.New(t.Context(), dsn, pgstore.Options{Schema: schema, NoMigrate: true, MustExist: true})
		if err != nil {
			t.Fatalf("New(NoMigrate) on a migrated schema = %v; want nil", err)
		}
		st.Close()
		// As if an older build had migrated it: its last migration not recorded.
		table := pgx.Identifier{schema, "schema_migrations"}.Sanitize()
		last := queryOne[string](t, dsn, "DELETE FROM "+table+" WHERE version = (SELECT max(version) FROM "+table+") RETURNING name")
		if _, err := pgstore.New(t.Context(), dsn, pgstore.Options{Schema: schema, NoMigrate: true}); !errors.Is(err, sessiond.ErrSchemaOutdated) || !strings.Contains(err.Error(), last) {
			t.Errorf("New(NoMigrate) without migration %s = %v; want ErrSchemaOutdated naming it", last, err)
		}
		if got := migrationCount(t, dsn, schema); got != want-1 {
			t.Errorf("schema_migrations has %d rows after a refused open; want %d (unchanged)", got, want-1)
		}
		// A schema no sessiond has used is neither created nor migrated.
		fresh := testSchema(t, dsn)
		if _, err := pgstore.New(t.Context(), dsn, pgstore.Options{Schema: fresh, NoMigrate: true}); !errors.Is(err, sessiond.ErrSchemaOutdated) {
			t.Errorf("New(NoMigrate) on a missing schema = %v; want ErrSchemaOutdated", err)
		}
		if n := queryInt(t, dsn, "SELECT count(*) FROM pg_namespace WHERE nspname = $1", fresh); n != 0 {
			t.Errorf("schema %s exists after a refused open; want it not created", fresh)
		}
	})
	t.Run("QuotedSchema", func(t *testing.T) {
		t.Parallel()
		dsn := testDSN(t)
		schema := `Odd "Schema"; -- ` + testSchema(t, dsn)[len("sessiond_test_"):]
		t.Cleanup(func() {
			_ = exec(context.Background(), dsn, "DROP SCHEMA IF EXISTS "+pgx.Identifier{schema}.Sanitize()+" CASCADE")
		})
		st, _ := newStore(t, pgstore.Options{Schema: schema})
		s := newSession("alice", t0)
		if err := st.Create(t.Context(), s); err != nil {
			t.Fatalf("Create() in schema %q = %v; want nil", schema, err)
		}
		if _, err := st.Get(t.Context(), s.ID); err != nil {
			t.Errorf("Get() in schema %q = %v; want nil", schema, err)
		}
	})
	t.Run("BadOptions", func(t *testing.T) {
		t.Parallel()
		dsn := testDSN(t)
		for _, opts := range []pgstore.Options{
			{Schema: strings.Repeat("s", 64)},
			{Schema: "bad\x00schema"},
			{MaxConns: -1},
		} {
			st, err := pgstore.New(t.Context(), dsn, opts)
			if err == nil {
				st.Close()
			}
			if !errors.Is(err, sessiond.ErrInvalidArgument) {
				t.Errorf("New(%+v) = %v; want ErrInvalidArgument", opts, err)
			}
		}
	})
}
