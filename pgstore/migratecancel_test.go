package pgstore_test

import (
	"errors"
	"strings"
	"testing"

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
	schema := testSchema(t, dsn)
	_, pid := holdMigrationLock(t, dsn, schema)
	nodeDSN, app := ownBuild(t, dsn)

	startCtx := hangGuard(t)
	started := startNode(startCtx, nodeDSN, pgstore.Options{Schema: schema})
	untilTrue(startCtx, t, dsn, `SELECT coalesce(bool_or(pg_cancel_backend(pid)), false) FROM pg_stat_activity
		WHERE application_name = $2 AND $1 = ANY (pg_blocking_pids(pid))`, pid, app, started,
		"another node held the migration lock")
	err := <-started
	if err == nil || errors.Is(err, sessiond.ErrStoreUnavailable) || !strings.Contains(err.Error(), "57014") {
		t.Fatalf("start whose migration statement was cancelled = %v; want an error naming SQLSTATE 57014, not ErrStoreUnavailable", err)
	}
}
