package testenv

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// UniqueName returns prefix and 12 random hex digits: a schema name or key
// prefix no other test run uses, so runs sharing one server stay apart.
func UniqueName(prefix string) string {
	var b [6]byte
	_, _ = rand.Read(b[:]) // never fails
	return prefix + hex.EncodeToString(b[:])
}

// PostgresSchema returns a fresh schema name (UniqueName(prefix)) for a
// store on the PostgreSQL at dsn to create, and drops that schema when tb
// ends. A failed drop is only logged: it is cleanup.
func PostgresSchema(tb testing.TB, dsn, prefix string) string {
	name := UniqueName(prefix)
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, dsn)
		if err != nil {
			tb.Logf("drop schema %s: %v", name, err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, "DROP SCHEMA IF EXISTS "+pgx.Identifier{name}.Sanitize()+" CASCADE"); err != nil {
			tb.Logf("drop schema %s: %v", name, err)
		}
	})
	return name
}
