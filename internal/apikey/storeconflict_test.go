package apikey_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/internal/apikey"
	"github.com/sessiond/sessiond/internal/testenv"
	"github.com/sessiond/sessiond/pgstore"
	"github.com/sessiond/sessiond/sessiondtest"
)

// TestKeys_StoreConflict: a read of the key set that the store gave up on
// (PostgreSQL's lock_timeout or a deadlock, pgstore's ErrConflict, as
// while a migration holds the table) decided nothing, as an outage: the
// last set read keeps answering, and a node with none fails with an error
// matching ErrStoreUnavailable, which the API and the console answer 503.
// Before, the conflict went back as it was: every API key was refused as
// unknown (401, a failed authentication recorded and rate-limited) and the
// console signed its operators out.
func TestKeys_StoreConflict(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dsn := sessiondtest.RequireEnv(t, "SESSIOND_TEST_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/test?sslmode=disable")
	ns := testenv.PostgresSchema(t, dsn, "keyconflict")
	sep := "?"
	if strings.Contains(dsn, "?") {
		sep = "&"
	}
	// A read waiting for a lock gives up after 50 ms (SQLSTATE 55P03).
	st, err := pgstore.New(ctx, dsn+sep+"options=-c%20lock_timeout%3D50", pgstore.Options{Schema: ns})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	clock := sessiondtest.NewClock(time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC))
	node := apikey.New(st, clock, time.Second)
	secret, key, err := node.Create(ctx, "ops", apikey.ScopeAdmin)
	if err != nil {
		t.Fatal(err)
	}
	fresh := apikey.New(st, clock, time.Second) // a node that has read no set yet

	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close(context.Background()) })
	tx, err := conn.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = tx.Rollback(context.Background()) })
	if _, err := tx.Exec(ctx, "LOCK TABLE "+pgx.Identifier{ns, "meta"}.Sanitize()+" IN ACCESS EXCLUSIVE MODE"); err != nil {
		t.Fatal(err)
	}
	clock.Advance(2 * time.Second) // past the refresh period: the set is read again

	if got, err := node.Authenticate(ctx, secret); err != nil || got.ID != key.ID {
		t.Errorf("Authenticate with the set read, the store giving up = %+v, %v; want key %s", got, err, key.ID)
	}
	if _, err := node.Known(ctx, key.ID); err != nil {
		t.Errorf("Known with the set read, the store giving up = %v; want the key", err)
	}
	for name, call := range map[string]func() error{
		"Authenticate": func() error { _, err := fresh.Authenticate(ctx, secret); return err },
		"Known":        func() error { _, err := fresh.Known(ctx, key.ID); return err },
	} {
		if err := call(); !errors.Is(err, sessiond.ErrStoreUnavailable) || errors.Is(err, apikey.ErrUnauthorized) {
			t.Errorf("%s with no set read, the store giving up = %v; want ErrStoreUnavailable", name, err)
		}
	}
}
