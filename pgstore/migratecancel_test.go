package pgstore_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/pgstore"
)

// TestNew_MigrationStatementCancelled: a migration statement cancelled in
// PostgreSQL (SQLSTATE 57014: an operator's pg_cancel_backend, a
// statement_timeout) fails the start with what happened, not as
// ErrStoreUnavailable: the store answered.
func TestNew_MigrationStatementCancelled(t *testing.T) {
	dsn := testDSN(t)
	t.Parallel()
	ctx := t.Context()
	schema := testSchema(t, dsn)
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	tx, err := conn.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(context.Background())
	// The lock a migrating node holds (lockClassMigrate).
	if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock(x'73657373'::int, hashtext($1))", schema); err != nil {
		t.Fatal(err)
	}
	pid := int(conn.PgConn().PID())
	nodeDSN, app := ownBuild(t, dsn)

	startCtx, cancel := context.WithTimeout(ctx, 60*time.Second) // a hang guard
	defer cancel()
	started := make(chan error, 1)
	go func() {
		s, err := pgstore.New(startCtx, nodeDSN, pgstore.Options{Schema: schema})
		if err == nil {
			s.Close()
		}
		started <- err
	}()
	watch, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer watch.Close(context.Background())
	for cancelled := false; !cancelled; {
		select {
		case err := <-started:
			t.Fatalf("the start ended (%v) while another node held the migration lock; want it to wait", err)
		default:
		}
		err := watch.QueryRow(startCtx, `SELECT coalesce(bool_or(pg_cancel_backend(pid)), false) FROM pg_stat_activity
			WHERE application_name = $2 AND $1 = ANY (pg_blocking_pids(pid))`, pid, app).Scan(&cancelled)
		if err != nil {
			t.Fatal(err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	err = <-started
	if err == nil || errors.Is(err, sessiond.ErrStoreUnavailable) || !strings.Contains(err.Error(), "57014") {
		t.Fatalf("start whose migration statement was cancelled = %v; want an error naming SQLSTATE 57014, not ErrStoreUnavailable", err)
	}
}
