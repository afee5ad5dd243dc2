package pgstore_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/pgstore"
)

// TestNew_MigrationLockTimeout holds a table lock a pending migration
// needs (an open transaction that read the table, as a long report or an
// idle-in-transaction client does) while a new node starts. Without a lock
// timeout the migration waits for the lock, and every query of the
// serving nodes queues behind that wait: the reader started during the
// start would finish only after it. With one, each attempt gives the lock
// up, the reader gets through between attempts, and the start ends with
// ErrMigrationLocked while the blocker stays; once the blocker commits, a
// start migrates.
func TestNew_MigrationLockTimeout(t *testing.T) {
	dsn := testDSN(t)
	t.Parallel()
	ctx := t.Context()
	schema := testSchema(t, dsn)
	blocker, tx := blockMigration(t, dsn, schema)
	id := pgx.Identifier{schema}.Sanitize()

	startCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	started := startNode(startCtx, dsn, pgstore.Options{Schema: schema, MigrationLockTimeout: 200 * time.Millisecond})

	// A serving node's query, sent once the migration waits for its lock:
	// it queues behind that wait.
	reader := connect(t, dsn)
	for waiting := false; !waiting; {
		err := reader.QueryRow(startCtx, `SELECT EXISTS (SELECT 1 FROM pg_locks
			WHERE NOT granted AND relation = ($1 || '.tokens')::regclass)`, id).Scan(&waiting)
		if err != nil {
			t.Fatalf("waiting for the migration to wait for its lock: %v", err)
		}
	}
	read := make(chan error, 1)
	go func() {
		_, err := reader.Exec(startCtx, "SELECT count(*) FROM "+id+".tokens")
		read <- err
	}()
	select {
	case err := <-read:
		if err != nil {
			t.Fatalf("reader: %v", err)
		}
	case err := <-started:
		t.Fatalf("the start ended (%v) before a reader queued behind its migration got through", err)
	}
	if err := <-started; !errors.Is(err, pgstore.ErrMigrationLocked) {
		t.Fatalf("start with the table locked = %v, want ErrMigrationLocked", err)
	}
	var version int
	if err := blocker.QueryRow(ctx, "SELECT max(version) FROM "+id+".schema_migrations").Scan(&version); err != nil || version != 8 {
		t.Fatalf("schema version after the refused start = %d (%v), want 8: a failed attempt must roll back", version, err)
	}

	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	s, err := pgstore.New(ctx, dsn, pgstore.Options{Schema: schema, MigrationLockTimeout: 20 * time.Millisecond})
	if err != nil {
		t.Fatalf("start after the blocker committed: %v", err)
	}
	defer s.Close()
	if err := blocker.QueryRow(ctx, "SELECT max(version) FROM "+id+".schema_migrations").Scan(&version); err != nil || version != migrationFiles(t) {
		t.Fatalf("schema version = %d (%v), want %d (the latest)", version, err, migrationFiles(t))
	}
}

// TestNew_MigrationLockTimeoutSubMillisecond: PostgreSQL counts
// lock_timeout in whole milliseconds and reads 0 as no timeout, so a
// positive MigrationLockTimeout under a millisecond must still time out
// (rounded up), not wait for the blocker without bound.
func TestNew_MigrationLockTimeoutSubMillisecond(t *testing.T) {
	dsn := testDSN(t)
	ctx := t.Context()
	schema := testSchema(t, dsn)
	blockMigration(t, dsn, schema)
	// A hang guard, not a threshold: 8 attempts of 0.5 ms and their
	// pauses take a few milliseconds.
	startCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	s, err := pgstore.New(startCtx, dsn, pgstore.Options{Schema: schema, MigrationLockTimeout: 500 * time.Microsecond})
	if err == nil {
		s.Close()
	}
	if !errors.Is(err, pgstore.ErrMigrationLocked) {
		t.Errorf("start with the table locked and MigrationLockTimeout 0.5 ms = %v; want ErrMigrationLocked (lock_timeout 0 waited without bound)", err)
	}
}

func TestNew_MigrationLockTimeoutNegative(t *testing.T) {
	dsn := testDSN(t)
	t.Parallel()
	s, err := pgstore.New(t.Context(), dsn, pgstore.Options{Schema: testSchema(t, dsn), MigrationLockTimeout: -time.Second})
	if err == nil {
		s.Close()
	}
	if ae := (*sessiond.ArgumentError)(nil); !errors.As(err, &ae) || ae.Field != "migration_lock_timeout" {
		t.Errorf("New(MigrationLockTimeout -1s) = %v; want an ArgumentError for migration_lock_timeout", err)
	}
}

// blockMigration brings a new schema to version 8 (0009 drops indexes on
// tokens, so it needs the table's exclusive lock) and holds a read of
// tokens in an open transaction, as a long report or a client idle in a
// transaction does, until the test ends.
func blockMigration(t *testing.T, dsn, schema string) (*pgx.Conn, pgx.Tx) {
	t.Helper()
	ctx := t.Context()
	migrateUpTo(t, dsn, schema, 8)
	tx := otherTx(t, dsn)
	if _, err := tx.Exec(ctx, "SELECT count(*) FROM "+pgx.Identifier{schema}.Sanitize()+".tokens"); err != nil {
		t.Fatal(err)
	}
	return tx.Conn(), tx
}

// TestNew_MigrationDeadlockRetried: during a rolling upgrade the nodes still
// serving take the tables' locks in their own order (a token lookup reads
// tokens, then sessions), so a pending migration can deadlock
// with one of them: migration 0008 holds sessions' exclusive lock while
// 0009 waits for tokens, which a serving transaction holds while it waits
// for sessions. When PostgreSQL ends the migration's transaction, that is
// a lost race, not a broken schema: the start retries, as after a lock
// timeout, instead of failing (a node of the new version could not start
// while old nodes served).
func TestNew_MigrationDeadlockRetried(t *testing.T) {
	dsn := testDSN(t)
	t.Parallel()
	// PostgreSQL ends the transaction of whichever waiter looks for a
	// deadlock first (each looks once, deadlock_timeout after it began to
	// wait): the migration, unless the serving transaction began to wait
	// more than that after it (a loaded machine). Such a round tests
	// nothing and is run again.
	for round := 1; round <= 10; round++ {
		migrationEnded, err := migrationDeadlock(t, dsn)
		if !migrationEnded {
			t.Logf("round %d: the deadlock ended the serving transaction, not the migration; again", round)
			continue
		}
		if err != nil {
			t.Fatalf("start that deadlocked with a serving transaction = %v; want it retried and migrated", err)
		}
		return
	}
	t.Fatal("the deadlock never ended the migration's transaction in 10 rounds")
}

// migrationDeadlock starts a store on a new schema at version 7 while a
// serving transaction deadlocks with its migration. It reports whether the
// deadlock ended the migration's transaction rather than the serving one,
// and the start's error.
func migrationDeadlock(t *testing.T, dsn string) (migrationEnded bool, startErr error) {
	t.Helper()
	ctx := t.Context()
	schema := testSchema(t, dsn)
	migrateUpTo(t, dsn, schema, 7)
	id := pgx.Identifier{schema}.Sanitize()

	// The serving node's transaction: it has written tokens (no row
	// needed: the statement holds the table's lock until commit).
	serving, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer serving.Close(context.Background())
	tx, err := serving.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(context.Background())
	if _, err := tx.Exec(ctx, "UPDATE "+id+".tokens SET retired_at = now() WHERE false"); err != nil {
		t.Fatal(err)
	}

	// A hang guard, not a threshold.
	startCtx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	// A lock timeout longer than PostgreSQL's deadlock_timeout (1 s
	// by default), so the deadlock, not the timeout, ends the wait;
	// the retry comes one lock timeout later.
	started := startNode(startCtx, dsn, pgstore.Options{Schema: schema, MigrationLockTimeout: 5 * time.Second})

	// Once the migration holds sessions and waits for tokens, the serving
	// transaction reads sessions: a cycle.
	watch, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer watch.Close(context.Background())
	for waiting := false; !waiting; {
		err := watch.QueryRow(startCtx, `SELECT EXISTS (SELECT 1 FROM pg_locks
			WHERE NOT granted AND relation = ($1 || '.tokens')::regclass)`, id).Scan(&waiting)
		if err != nil {
			t.Fatalf("waiting for the migration to wait for tokens: %v", err)
		}
		if !waiting {
			time.Sleep(5 * time.Millisecond)
		}
	}
	var n int
	err = tx.QueryRow(startCtx, "SELECT count(*) FROM "+id+".sessions").Scan(&n)
	if pgErr := (*pgconn.PgError)(nil); errors.As(err, &pgErr) && pgErr.Code == "40P01" {
		<-started
		return false, nil
	}
	if err != nil {
		t.Fatalf("the serving transaction's read: %v", err)
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if startErr = <-started; startErr != nil {
		return true, startErr
	}
	var version int
	if err := watch.QueryRow(ctx, "SELECT max(version) FROM "+id+".schema_migrations").Scan(&version); err != nil || version != migrationFiles(t) {
		t.Fatalf("schema version = %d (%v), want %d (the latest)", version, err, migrationFiles(t))
	}
	return true, nil
}
