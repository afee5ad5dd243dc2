package pgstore_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/pgstore"
	"github.com/sessiond/sessiond/sessiondtest"
)

// testDSN returns the test server's address from SESSIOND_TEST_POSTGRES_URL,
// or skips (fails under SESSIOND_TEST_REQUIRE=1) without it.
func testDSN(tb testing.TB) string {
	tb.Helper()
	return sessiondtest.RequireEnv(tb, "SESSIOND_TEST_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/test?sslmode=disable")
}

// testSchema returns a fresh schema name and drops the schema when the
// test ends. The store creates it.
func testSchema(tb testing.TB, dsn string) string {
	tb.Helper()
	var b [8]byte
	_, _ = rand.Read(b[:])
	schema := "sessiond_test_" + hex.EncodeToString(b[:])
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := exec(ctx, dsn, "DROP SCHEMA IF EXISTS "+pgx.Identifier{schema}.Sanitize()+" CASCADE"); err != nil {
			tb.Errorf("drop schema %s: %v", schema, err)
		}
	})
	return schema
}

// newStore returns a Store on a fresh schema, closed when the test ends.
func newStore(tb testing.TB, opts pgstore.Options) (*pgstore.Store, string) {
	tb.Helper()
	return newStoreOpts(tb, testDSN(tb), opts)
}

// newStoreDSN is newStore through another address for the test server.
func newStoreDSN(tb testing.TB, dsn string) (*pgstore.Store, string) {
	tb.Helper()
	testDSN(tb)
	return newStoreOpts(tb, dsn, pgstore.Options{})
}

func newStoreOpts(tb testing.TB, dsn string, opts pgstore.Options) (*pgstore.Store, string) {
	tb.Helper()
	if opts.Schema == "" {
		opts.Schema = testSchema(tb, testDSN(tb))
	}
	st, err := pgstore.New(context.Background(), dsn, opts)
	if err != nil {
		tb.Fatalf("pgstore.New() = %v; want nil", err)
	}
	tb.Cleanup(func() { st.Close() })
	return st, opts.Schema
}

// connect opens a connection of its own to dsn, outside any store's pool,
// closed when the test ends.
func connect(tb testing.TB, dsn string) *pgx.Conn {
	tb.Helper()
	conn, err := pgx.Connect(tb.Context(), dsn)
	if err != nil {
		tb.Fatalf("connect: %v", err)
	}
	tb.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

// otherTx is a transaction on a connection of its own (connect), rolled
// back when the test ends unless committed: the "other client" holding a
// lock. tx.Conn() is its connection.
func otherTx(tb testing.TB, dsn string) pgx.Tx {
	tb.Helper()
	tx, err := connect(tb, dsn).Begin(tb.Context())
	if err != nil {
		tb.Fatalf("begin: %v", err)
	}
	tb.Cleanup(func() { tx.Rollback(context.Background()) })
	return tx
}

// hangGuard is t's context ended a minute from now: a bound on a wait
// that must end by itself, so that a hang fails the test instead of
// stalling the package; not a threshold.
func hangGuard(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// exec runs sql on a connection of its own.
func exec(ctx context.Context, dsn, sql string, args ...any) error {
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	_, err = conn.Exec(ctx, sql, args...)
	return err
}

// queryInt runs a query returning one integer on a connection of its own.
func queryInt(tb testing.TB, dsn, sql string, args ...any) int {
	tb.Helper()
	return queryOne[int](tb, dsn, sql, args...)
}

// queryOne runs a query returning one value on a connection of its own.
func queryOne[T any](tb testing.TB, dsn, sql string, args ...any) T {
	tb.Helper()
	conn, err := pgx.Connect(tb.Context(), dsn)
	if err != nil {
		tb.Fatalf("connect: %v", err)
	}
	defer conn.Close(context.Background())
	var v T
	if err := conn.QueryRow(tb.Context(), sql, args...).Scan(&v); err != nil {
		tb.Fatalf("%s = %v", sql, err)
	}
	return v
}

// t0 is the tests' reference time: UTC, truncated to the microsecond.
var t0 = time.Date(2030, time.March, 4, 5, 6, 7, 891234000, time.UTC)

// newSession returns sessiondtest.NewSession as a hybrid-strategy session
// last active when created: the strategy the bulk tests count.
func newSession(subject string, created time.Time) *sessiond.Session {
	s := sessiondtest.NewSession(subject, created)
	s.Strategy = sessiond.StrategyHybrid
	s.LastActiveAt = created
	return s
}

// newToken is the conformance suite's token constructor.
var newToken = sessiondtest.NewToken
