package pgstore

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/sessiond/sessiond/sessiondtest"
)

// newSchemaStore is a store of the package's internal tests on a schema of
// its own, dropped when the test ends (SESSIOND_TEST_POSTGRES_URL).
func newSchemaStore(t *testing.T, o Options) *Store {
	t.Helper()
	dsn := sessiondtest.RequireEnv(t, "SESSIOND_TEST_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/test?sslmode=disable")
	var b [8]byte
	_, _ = rand.Read(b[:])
	o.Schema = "sessiond_test_" + hex.EncodeToString(b[:])
	st, err := New(t.Context(), dsn, o)
	if err != nil {
		t.Fatalf("New() = %v; want nil", err)
	}
	t.Cleanup(func() {
		st.Close()
		ctx := context.Background()
		conn, err := pgx.Connect(ctx, dsn)
		if err != nil {
			t.Errorf("drop schema: %v", err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, "DROP SCHEMA "+pgx.Identifier{o.Schema}.Sanitize()+" CASCADE"); err != nil {
			t.Errorf("drop schema: %v", err)
		}
	})
	return st
}
