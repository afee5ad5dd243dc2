package pgstore_test

import (
	"testing"
	"time"

	"github.com/sessiond/sessiond/pgstore"
)

// TestNew_MigrationWaitIgnoresDSNLockTimeout: a pool whose DSN sets
// lock_timeout (options=-c lock_timeout=…) must not cut the wait for
// another node's migrations (the advisory lock, which only migrating
// nodes hold): before, each attempt ended after the DSN's lock_timeout,
// was retried as "waited too long for a table lock", and the start failed
// with ErrMigrationLocked while the other node still migrated.
func TestNew_MigrationWaitIgnoresDSNLockTimeout(t *testing.T) {
	dsn := testDSN(t)
	t.Parallel()
	schema := testSchema(t, dsn)
	tx, pid := holdMigrationLock(t, dsn, schema)
	nodeDSN, app := ownBuild(t, dsn)
	withTimeout := withParam(nodeDSN, "options", "-c lock_timeout=100")

	startCtx := hangGuard(t)
	// A short MigrationLockTimeout: its retries end within a few seconds
	// if the DSN's lock_timeout cuts the wait.
	started := startNode(startCtx, withTimeout, pgstore.Options{Schema: schema, MigrationLockTimeout: 50 * time.Millisecond})
	// The start's wait outlives the DSN's lock_timeout fifty times over, on
	// the server's clock, in one statement.
	untilTrue(startCtx, t, dsn, `SELECT EXISTS (SELECT 1 FROM pg_stat_activity
		WHERE application_name = $2 AND $1 = ANY (pg_blocking_pids(pid))
		AND now() - query_start > interval '5 s')`, pid, app, started, "another node held the migration lock")
	releaseStart(t, dsn, schema, started, "the other node's migrations ended", tx.Commit)
}
