package pgstore_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/sessiond/sessiond/internal/testenv"
	"github.com/sessiond/sessiond/pgstore"
)

// holdEventWrites brings a new schema to version 11 (before 0012 builds
// events_no_subject) and opens a transaction that has appended an event
// and stays open, as a serving node's slow request does: a build of the
// index waits for it. It returns the connection's pid and the transaction.
func holdEventWrites(t *testing.T, dsn, schema string) (int, pgx.Tx) {
	t.Helper()
	ctx := t.Context()
	migrateUpTo(t, dsn, schema, 11)
	tx := otherTx(t, dsn)
	if _, err := tx.Exec(ctx, insertEvent(schema), "blocker"); err != nil {
		t.Fatal(err)
	}
	var pid int
	if err := tx.QueryRow(ctx, "SELECT pg_backend_pid()").Scan(&pid); err != nil {
		t.Fatal(err)
	}
	return pid, tx
}

// insertEvent appends an event without a subject, as a login's statement
// appends its event (the id is $1).
func insertEvent(schema string) string {
	return "INSERT INTO " + pgx.Identifier{schema, "events"}.Sanitize() + " (id, time, type) VALUES ($1, now(), 'session.created')"
}

// ownBuild returns dsn with an application_name no other test uses, and
// that name: the test finds its own build in pg_stat_activity by it. A
// CONCURRENTLY build waits for every older transaction of the database,
// so another test's build, running in parallel (or in another package's
// tests), waits for this test's blocker too, and is not this one's.
func ownBuild(t *testing.T, dsn string) (string, string) {
	t.Helper()
	app := testenv.UniqueName("sessiond-migrate-test-")
	return withParam(dsn, "application_name", app), app
}

// withParam returns dsn with the connection parameter key set to value,
// in the DSN's own form (a URL or keyword=value pairs).
func withParam(dsn, key, value string) string {
	if !strings.Contains(dsn, "://") {
		return dsn + " " + key + "='" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(value) + "'"
	}
	sep := "?"
	if strings.Contains(dsn, "?") {
		sep = "&"
	}
	return dsn + sep + key + "=" + strings.ReplaceAll(url.QueryEscape(value), "+", "%20")
}

// outlivedQuery: the node's own statement (application_name $2) has
// waited on the blocker ($1) for more than 2 s on the server's clock.
const outlivedQuery = `SELECT EXISTS (SELECT 1 FROM pg_stat_activity
	WHERE application_name = $2 AND $1 = ANY (pg_blocking_pids(pid))
	AND now() - query_start > interval '2 s')`

// startNode opens a store on dsn in the background, as a node starting
// would; its error (nil once it opened, and then closed) arrives on the
// channel.
func startNode(ctx context.Context, dsn string, o pgstore.Options) <-chan error {
	started := make(chan error, 1)
	go func() {
		s, err := pgstore.New(ctx, dsn, o)
		if err == nil {
			s.Close()
		}
		started <- err
	}()
	return started
}

// holdMigrationLock holds, in an open transaction of its own connection,
// the advisory lock a migrating node holds for schema (lockClassMigrate),
// as another node migrating would. It returns the transaction (rolled
// back when the test ends, unless committed) and its backend's pid.
func holdMigrationLock(t *testing.T, dsn, schema string) (pgx.Tx, int) {
	t.Helper()
	tx := otherTx(t, dsn)
	if _, err := tx.Exec(t.Context(), "SELECT pg_advisory_xact_lock(x'73657373'::int, hashtext($1))", schema); err != nil {
		t.Fatal(err)
	}
	return tx, int(tx.Conn().PgConn().PID())
}

// untilTrue polls query ($1 the blocker's pid, $2 the node's
// application_name) until it returns true, failing t if the start ends
// first: what names what the start was meant to be doing meanwhile.
func untilTrue(ctx context.Context, t *testing.T, dsn, query string, pid int, app string, started <-chan error, what string) {
	t.Helper()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	for {
		select {
		case err := <-started:
			t.Fatalf("the start ended (%v) while %s; want it to wait", err, what)
		default:
		}
		var done bool
		if err := conn.QueryRow(ctx, query, pid, app).Scan(&done); err != nil {
			t.Fatal(err)
		}
		if done {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// releaseStart is the end of a start held up by a blocker: the start
// (started) must still wait; once release lets it go (released says how,
// for the messages) it must return nil, leaving schema migrated: every
// migration recorded and events_no_subject valid.
func releaseStart(t *testing.T, dsn, schema string, started <-chan error, released string, release func(context.Context) error) {
	t.Helper()
	select {
	case err := <-started:
		t.Fatalf("the start ended (%v) before %s; want it to wait", err, released)
	default:
	}
	if err := release(t.Context()); err != nil {
		t.Fatal(err)
	}
	if err := <-started; err != nil {
		t.Fatalf("start once %s = %v; want nil", released, err)
	}
	migratedFully(t, dsn, schema, "once "+released)
}

// migratedFully checks that schema is migrated: events_no_subject valid
// and every migration recorded. when says when, for the messages.
func migratedFully(t *testing.T, dsn, schema, when string) {
	t.Helper()
	if exists, valid, err := indexValid(t.Context(), dsn, schema); err != nil || !exists || !valid {
		t.Errorf("%s: events_no_subject exists %v, valid %v (%v); want a valid index", when, exists, valid, err)
	}
	if got, want := migrationCount(t, dsn, schema), migrationFiles(t); got != want {
		t.Errorf("%s: schema_migrations has %d rows; want %d", when, got, want)
	}
}

// waitForBuild returns the pid of the connection named app (ownBuild)
// whose statement waits for the transaction of pid, once there is one:
// in these tests only the build of events_no_subject (pg_stat_activity's
// query shows only the start of a long migration file, its comment).
func waitForBuild(ctx context.Context, t *testing.T, dsn string, pid int, app string) int {
	t.Helper()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	for {
		var waiter int
		err := conn.QueryRow(ctx, `SELECT pid FROM pg_stat_activity
			WHERE application_name = $2 AND $1 = ANY (pg_blocking_pids(pid)) LIMIT 1`, pid, app).Scan(&waiter)
		if err == nil {
			return waiter
		}
		if !errors.Is(err, pgx.ErrNoRows) {
			t.Fatalf("waiting for the build of events_no_subject (%s) to wait for pid %d: %v", app, pid, err)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// indexValid reports whether the schema's events_no_subject exists, and
// whether PostgreSQL may use it.
func indexValid(ctx context.Context, dsn, schema string) (exists, valid bool, err error) {
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return false, false, err
	}
	defer conn.Close(context.Background())
	err = conn.QueryRow(ctx, `SELECT i.indisvalid FROM pg_index i
		JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE n.nspname = $1 AND c.relname = 'events_no_subject'`, schema).Scan(&valid)
	if errors.Is(err, pgx.ErrNoRows) {
		return false, false, nil
	}
	return err == nil, valid, err
}

// TestNew_MigrationBuildsIndexConcurrently: migration 0012 builds an
// index of events, the table every login, refresh and logout appends to.
// While the build runs (held up here by a serving transaction that
// appended an event and is still open), another node's login must still
// append its event: built in the migration's transaction, the index's
// SHARE lock queued every append behind it.
func TestNew_MigrationBuildsIndexConcurrently(t *testing.T) {
	dsn := testDSN(t)
	t.Parallel()
	ctx := t.Context()
	schema := testSchema(t, dsn)
	pid, blocker := holdEventWrites(t, dsn, schema)
	nodeDSN, app := ownBuild(t, dsn)

	startCtx := hangGuard(t)
	// A lock timeout longer than the test: the build is held up by
	// the blocker until the login below has had its chance.
	started := startNode(startCtx, nodeDSN, pgstore.Options{Schema: schema, MigrationLockTimeout: time.Minute})
	waitForBuild(startCtx, t, dsn, pid, app)

	// The login: a hang guard again, the build cannot end before the
	// blocker does.
	loginCtx, cancelLogin := context.WithTimeout(ctx, 10*time.Second)
	defer cancelLogin()
	if err := exec(loginCtx, dsn, insertEvent(schema), "login"); err != nil {
		t.Fatalf("appending a login's event while 0012 builds = %v; want it done before the build ends", err)
	}
	releaseStart(t, dsn, schema, started, "the serving transaction committed", blocker.Commit)
}

// TestNew_MigrationInvalidIndexRebuilt: a concurrent build that ends
// half-way (a node killed, its start cancelled) leaves an INVALID index
// that PostgreSQL keeps up to date but never reads. A later start drops
// it and builds it again, rather than finding it there (IF NOT EXISTS)
// and recording the migration as done.
// A schema name that needs quoting (mixed case, a dash) is looked up as
// it is stored.
func TestNew_MigrationInvalidIndexRebuilt(t *testing.T) {
	dsn := testDSN(t)
	t.Parallel()
	for _, c := range []struct {
		name   string
		schema func(string) string
	}{
		{"Plain", func(s string) string { return s }},
		{"Quoted", func(s string) string { return strings.Replace(s, "sessiond_test_", "Sessiond-Test_", 1) }},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			schema := c.schema(testSchema(t, dsn))
			t.Cleanup(func() {
				if err := exec(context.Background(), dsn, "DROP SCHEMA IF EXISTS "+pgx.Identifier{schema}.Sanitize()+" CASCADE"); err != nil {
					t.Errorf("drop schema %s: %v", schema, err)
				}
			})
			testMigrationInvalidIndexRebuilt(t, dsn, schema)
		})
	}
}

func testMigrationInvalidIndexRebuilt(t *testing.T, dsn, schema string) {
	ctx := t.Context()
	pid, blocker := holdEventWrites(t, dsn, schema)

	// A build cancelled on the server while it waits for the blocker.
	buildDSN, app := ownBuild(t, dsn)
	conn := connect(t, buildDSN)
	built := make(chan error, 1)
	go func() {
		_, err := conn.Exec(ctx, "CREATE INDEX CONCURRENTLY events_no_subject ON "+
			pgx.Identifier{schema, "events"}.Sanitize()+" (type, id) WHERE subject = ''")
		built <- err
	}()
	// This build's own backend, not any statement waiting for the
	// blocker: a CONCURRENTLY build waits for every older transaction of
	// the database, so another test's build waits for this blocker too,
	// and cancelling that one left this build waiting for ever.
	waiter := int(conn.PgConn().PID())
	if got := waitForBuild(ctx, t, dsn, pid, app); got != waiter {
		t.Fatalf("the build waiting for the blocker is pid %d; want this build's %d", got, waiter)
	}
	for !queryOne[bool](t, dsn, "SELECT coalesce((SELECT wait_event_type = 'Lock' FROM pg_stat_activity WHERE pid = $1), false)", waiter) {
		select {
		case <-ctx.Done():
			t.Fatal(ctx.Err())
		case <-time.After(10 * time.Millisecond):
		}
	}
	if !queryOne[bool](t, dsn, "SELECT pg_cancel_backend($1)", waiter) {
		t.Fatalf("pg_cancel_backend(%d) = false", waiter)
	}
	if err := <-built; err == nil {
		t.Fatal("the cancelled build succeeded")
	}
	if err := blocker.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	if exists, valid, err := indexValid(ctx, dsn, schema); err != nil || !exists || valid {
		t.Fatalf("after a cancelled build: events_no_subject exists %v, valid %v (%v); want an invalid index", exists, valid, err)
	}

	startCtx := hangGuard(t)
	s, err := pgstore.New(startCtx, dsn, pgstore.Options{Schema: schema})
	if err != nil {
		t.Fatalf("start on a schema holding an invalid events_no_subject = %v; want nil", err)
	}
	s.Close()
	migratedFully(t, dsn, schema, "after the start")
}

// TestNew_MigrationConcurrentIndexTwoNodes: two nodes start at once while
// the build is held up. One builds; the other waits for it and finds the
// migration done: neither returns before the index is valid and its
// version recorded, and neither fails (a node waiting for the builder
// while holding a snapshot the build waits for would deadlock with it).
func TestNew_MigrationConcurrentIndexTwoNodes(t *testing.T) {
	dsn := testDSN(t)
	t.Parallel()
	ctx := t.Context()
	schema := testSchema(t, dsn)
	pid, blocker := holdEventWrites(t, dsn, schema)
	nodeDSN, app := ownBuild(t, dsn)

	startCtx := hangGuard(t)
	const nodes = 2
	errs := make([]error, nodes)
	var logs testenv.SyncBuffer // both nodes'
	log := slog.New(slog.NewTextHandler(&logs, nil))
	var wg sync.WaitGroup
	for i := range nodes {
		wg.Go(func() {
			s, err := pgstore.New(startCtx, nodeDSN, pgstore.Options{Schema: schema, MigrationLockTimeout: time.Minute, Logger: log})
			if err != nil {
				errs[i] = err
				return
			}
			s.Close()
			// What the node finds the moment its start returns.
			exists, valid, err := indexValid(ctx, dsn, schema)
			switch {
			case err != nil:
				errs[i] = err
			case !exists || !valid:
				errs[i] = fmt.Errorf("start returned with events_no_subject exists %v, valid %v", exists, valid)
			default:
				if v := queryInt(t, dsn, "SELECT max(version) FROM "+pgx.Identifier{schema, "schema_migrations"}.Sanitize()); v < 12 {
					errs[i] = fmt.Errorf("start returned at schema version %d", v)
				}
			}
		})
	}
	waitForBuild(startCtx, t, dsn, pid, app)
	// The node that does not build says that it waits (its start must
	// not look hung), while the other's build is still held up.
	for !strings.Contains(logs.String(), "waiting for another node's migration outside a transaction") {
		select {
		case <-startCtx.Done():
			t.Fatalf("no node said it waits for the other's build; log:\n%s", logs.String())
		case <-time.After(10 * time.Millisecond):
		}
	}
	if err := blocker.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("node %d of %d starting while 0012 builds: %v; want it to return once the index is built", i, nodes, err)
		}
	}
	migratedFully(t, dsn, schema, "after both starts")
}

// TestNew_MigrationNewSchemaIndex: on a new schema, which no node serves,
// 0012 is built in the migrations' one transaction, and valid: not
// CONCURRENTLY, which would wait for a transaction of the database that
// holds a snapshot older than the build's (here one open on another
// connection, as a long report's would be).
func TestNew_MigrationNewSchemaIndex(t *testing.T) {
	dsn := testDSN(t)
	t.Parallel()
	ctx := t.Context()
	old, err := connect(t, dsn).BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead})
	if err != nil {
		t.Fatal(err)
	}
	defer old.Rollback(context.Background())
	if _, err := old.Exec(ctx, "SELECT 1"); err != nil { // takes its snapshot
		t.Fatal(err)
	}
	startCtx := hangGuard(t)
	schema := testSchema(t, dsn)
	s, err := pgstore.New(startCtx, dsn, pgstore.Options{Schema: schema})
	if err != nil {
		t.Fatalf("start on a new schema while a transaction of the database holds an old snapshot = %v; want nil", err)
	}
	s.Close()
	if exists, valid, err := indexValid(t.Context(), dsn, schema); err != nil || !exists || !valid {
		t.Errorf("events_no_subject on a new schema: exists %v, valid %v (%v); want a valid index", exists, valid, err)
	}
}

// TestNew_MigrationConcurrentIndexIgnoresStatementTimeout: a pool whose
// DSN sets statement_timeout (options=-c statement_timeout=…), shorter
// than the build, must not cut the build: each start would then leave an
// INVALID index, drop it, build again and be cut again, forever.
func TestNew_MigrationConcurrentIndexIgnoresStatementTimeout(t *testing.T) {
	dsn := testDSN(t)
	t.Parallel()
	schema := testSchema(t, dsn)
	pid, blocker := holdEventWrites(t, dsn, schema)
	nodeDSN, app := ownBuild(t, dsn)
	withTimeout := withParam(nodeDSN, "options", "-c statement_timeout=200")

	startCtx := hangGuard(t)
	started := startNode(startCtx, withTimeout, pgstore.Options{Schema: schema, MigrationLockTimeout: time.Minute})
	// The build outlives the DSN's statement_timeout ten times over, on
	// the server's clock, while the blocker holds it up.
	untilTrue(startCtx, t, dsn, outlivedQuery, pid, app, started, "a serving transaction held up the build")
	releaseStart(t, dsn, schema, started, "the serving transaction committed", blocker.Commit)
}

// TestNew_MigrationCancelledStartCancelsBuild: a start cancelled while
// 0012 builds (ctx ended: SIGINT, a deploy's timeout) ends the build in
// PostgreSQL too, not only its own wait for it. Left running, the build
// goes on waiting for the serving transaction and holds the session lock
// that the next start then waits for, for a build nobody wants any more.
// Its INVALID leftover is the next start's (TestNew_MigrationInvalidIndexRebuilt).
func TestNew_MigrationCancelledStartCancelsBuild(t *testing.T) {
	dsn := testDSN(t)
	t.Parallel()
	ctx := t.Context()
	schema := testSchema(t, dsn)
	pid, _ := holdEventWrites(t, dsn, schema)
	nodeDSN, app := ownBuild(t, dsn)

	startCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	started := startNode(startCtx, nodeDSN, pgstore.Options{Schema: schema, MigrationLockTimeout: time.Minute})
	builder := waitForBuild(ctx, t, dsn, pid, app)
	cancel()
	if err := <-started; !errors.Is(err, context.Canceled) {
		t.Fatalf("start cancelled while 0012 builds = %v; want context.Canceled", err)
	}
	// The blocker stays open: only a cancelled build lets go meanwhile.
	guard, stop := context.WithTimeout(ctx, 30*time.Second) // a hang guard
	defer stop()
	for queryOne[bool](t, dsn, "SELECT EXISTS (SELECT 1 FROM pg_stat_activity WHERE pid = $1)", builder) {
		select {
		case <-guard.Done():
			t.Fatalf("the build's backend (pid %d) still runs 30 s after its start was cancelled: %s", builder,
				queryOne[string](t, dsn, "SELECT coalesce((SELECT state || ': ' || left(query, 60) FROM pg_stat_activity WHERE pid = $1), '')", builder))
		case <-time.After(10 * time.Millisecond):
		}
	}
	if exists, valid, err := indexValid(ctx, dsn, schema); err != nil || valid {
		t.Errorf("after the cancelled build: events_no_subject exists %v, valid %v (%v); want no valid index", exists, valid, err)
	}
	if v := queryInt(t, dsn, "SELECT max(version) FROM "+pgx.Identifier{schema, "schema_migrations"}.Sanitize()); v != 11 {
		t.Errorf("after the cancelled build: schema version %d; want 11", v)
	}
}

// TestNew_MigrationTransactionIgnoresStatementTimeout: a pool whose DSN
// sets statement_timeout (options=-c statement_timeout=…) shorter than
// the migrations' transaction waits does not fail the start: waiting
// for another node's migrations (the advisory lock), and for a table
// lock within MigrationLockTimeout (which bounds that wait itself, and
// is retried), both outlive it. Before, the start failed at once with
// "canceling statement due to statement timeout", at every start while
// either lasted.
func TestNew_MigrationTransactionIgnoresStatementTimeout(t *testing.T) {
	dsn := testDSN(t)
	t.Parallel()
	for _, c := range []struct {
		name string
		// block holds up the migrations of schema until release; pid is
		// its connection's.
		block func(t *testing.T, schema string) (pid int, release func(context.Context) error)
	}{
		{"AnotherNodeMigrates", func(t *testing.T, schema string) (int, func(context.Context) error) {
			tx, pid := holdMigrationLock(t, dsn, schema)
			return pid, tx.Commit
		}},
		{"TableLocked", func(t *testing.T, schema string) (int, func(context.Context) error) {
			conn, tx := blockMigration(t, dsn, schema)
			return int(conn.PgConn().PID()), tx.Commit
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			schema := testSchema(t, dsn)
			pid, release := c.block(t, schema)
			nodeDSN, app := ownBuild(t, dsn)
			withTimeout := withParam(nodeDSN, "options", "-c statement_timeout=200")

			startCtx := hangGuard(t)
			started := startNode(startCtx, withTimeout, pgstore.Options{Schema: schema, MigrationLockTimeout: time.Minute})
			// The start's statement outlives the DSN's statement_timeout
			// ten times over, on the server's clock, waiting for the
			// blocker.
			untilTrue(startCtx, t, dsn, outlivedQuery, pid, app, started, "the blocker held up its migrations")
			releaseStart(t, dsn, schema, started, "the blocker committed", release)
		})
	}
}
