package pgstore

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/internal/migration"
)

//go:embed migrations/*.sql
var migrationFS embed.FS

// mustExist fails, matching sessiond.ErrNotFound, unless the store's
// schema holds sessiond's migration table (Options.MustExist).
func (s *Store) mustExist(ctx context.Context) error {
	found, err := s.hasMigrations(ctx)
	if err != nil {
		return s.translate("open", err)
	}
	if !found {
		return fmt.Errorf("pgstore: open: schema %q holds no sessiond tables: %w", s.schema, sessiond.ErrNotFound)
	}
	return nil
}

// hasMigrations reports whether the schema holds schema_migrations,
// without creating the schema or the table.
func (s *Store) hasMigrations(ctx context.Context) (bool, error) {
	var found bool
	err := s.pool.QueryRow(ctx, "SELECT to_regclass($1) IS NOT NULL",
		pgx.Identifier{s.schema, "schema_migrations"}.Sanitize()).Scan(&found)
	return found, err
}

// checkCurrent fails unless the schema holds every embedded migration
// (Options.NoMigrate). It only reads, takes no lock and creates nothing: a
// schema without schema_migrations has every migration pending.
func (s *Store) checkCurrent(ctx context.Context) error {
	all, err := migration.Load(migrationFS, "migrations")
	if err != nil {
		return fmt.Errorf("pgstore: migrate: %w", err)
	}
	var versions []int
	found, err := s.hasMigrations(ctx)
	if err == nil && found {
		var rows pgx.Rows
		if rows, err = s.pool.Query(ctx, "SELECT version FROM "+pgx.Identifier{s.schema, "schema_migrations"}.Sanitize()); err == nil {
			versions, err = pgx.CollectRows(rows, pgx.RowTo[int])
		}
	}
	if err != nil {
		return s.translate("open", err)
	}
	if err := migration.Current(all, versions); err != nil {
		return fmt.Errorf("pgstore: schema %s: %w", s.schema, err)
	}
	return nil
}

// Migrate creates the schema if missing and applies, in version order,
// every embedded migration not recorded in its schema_migrations table:
// in one transaction, but for those that run outside one (migration.
// NoTransactionMarker: an index built CONCURRENTLY), which it applies one
// at a time on a connection of its own. On an up-to-date schema it
// changes nothing. It fails if the schema carries a version this build
// does not know (a newer sessiond migrated it). New calls it; it is safe
// to run at the same time from any number of nodes: each step first takes
// an advisory lock on the schema, so one node migrates and the others then
// find nothing to do.
func (s *Store) Migrate(ctx context.Context) error {
	if s.closed.Load() {
		return errClosed
	}
	all, err := migration.Load(migrationFS, "migrations")
	if err == nil {
		err = checkOutside(all)
	}
	if err != nil {
		return fmt.Errorf("pgstore: migrate: %w", err)
	}
	for {
		outside, err := s.migrateInTransaction(ctx, all)
		if err != nil || !outside {
			return err
		}
		if err := s.migrateOutside(ctx, all); err != nil {
			return s.migrateError(err)
		}
	}
}

// migrateInTransaction applies the first pending migrations that run in a
// transaction (migration.Batch), retrying a lost table lock. It reports
// whether one that runs outside a transaction is pending after them.
func (s *Store) migrateInTransaction(ctx context.Context, all []migration.Migration) (outside bool, err error) {
	var applied []migration.Migration
	for attempt := 1; ; attempt++ {
		applied, outside, err = s.migrateOnce(ctx, all)
		why := lockLost(err)
		if why == "" {
			break
		}
		if attempt == migrationAttempts {
			return false, fmt.Errorf("%w (schema %s, %d attempts of %s each; find the blocking transaction in pg_locks and pg_stat_activity): %w",
				ErrMigrationLocked, s.schema, attempt, s.migrationLock, s.translate("migrate", err))
		}
		pause := s.migrationLock * time.Duration(min(1<<(attempt-1), 8))
		s.log.Warn("pgstore: a migration "+why+"; rolled back, retrying",
			"schema", s.schema, "attempt", attempt, "of", migrationAttempts, "retry_in", pause.String())
		select {
		case <-ctx.Done():
			return false, s.translate("migrate", ctx.Err())
		case <-time.After(pause):
		}
	}
	if err != nil {
		return false, s.migrateError(err)
	}
	for _, m := range applied {
		s.log.Info("pgstore: applied migration", "schema", s.schema, "version", m.Version, "name", m.Name)
	}
	return outside, nil
}

// migrateError is translate for a migration's error, but a statement
// PostgreSQL cancelled (57014: an operator's pg_cancel_backend, a
// statement_timeout where one is not reset) is said as such, not as
// ErrStoreUnavailable: the store answered, and the schema is as the last
// committed migration left it.
func (s *Store) migrateError(err error) error {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == codeQueryCanceled && !s.closed.Load() {
		return fmt.Errorf("pgstore: migrate: a statement was cancelled: %s (SQLSTATE %s)", pgErr.Message, pgErr.Code)
	}
	return s.translate("migrate", err)
}

// lockLost says why the migration's transaction lost its table locks, or
// "" when err is no such loss. Besides lock_timeout, a deadlock: during a
// rolling upgrade the nodes still serving take sessions and tokens in
// their own order (a token lookup reads tokens, then sessions), so a
// migration holding one table and waiting for the other can close a cycle
// with them, and PostgreSQL ends one of the two transactions. When it ends
// the migration's, the schema is as it was, and a later attempt gets
// through.
func lockLost(err error) string {
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) {
		return ""
	}
	switch pgErr.Code {
	case codeLockNotAvailable:
		return "waited too long for a table lock another session holds"
	case codeDeadlock:
		return "deadlocked with another session's transaction"
	}
	return ""
}

// migrateOnce is one attempt at migrateInTransaction's transaction: the
// migrations it applied and whether one that runs outside a transaction
// is pending after them, or its error untranslated.
func (s *Store) migrateOnce(ctx context.Context, all []migration.Migration) ([]migration.Migration, bool, error) {
	schema := pgx.Identifier{s.schema}.Sanitize()
	var applied []migration.Migration
	var outside bool
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		applied, outside = nil, false
		// No statement_timeout (the DSN's, role's or database's) for the
		// migrations: it would cut the wait for another node's
		// migrations below, a wait for a table lock before
		// MigrationLockTimeout (which bounds it, and is retried), or a
		// long migration, at every start alike. Nor the DSN's
		// lock_timeout for the advisory lock below: it would end that
		// wait as a lost table lock, retried and failed with
		// ErrMigrationLocked while another node migrates; after it,
		// MigrationLockTimeout is the lock_timeout. ctx bounds the whole.
		if _, err := tx.Exec(ctx, "SET LOCAL statement_timeout = 0; SET LOCAL lock_timeout = 0"); err != nil {
			return err
		}
		// Held until commit. Everything below, CREATE SCHEMA included,
		// happens under it, so concurrent starts cannot race on DDL. It
		// waits without a bound: only other migrating nodes hold it.
		if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1, hashtext($2))", int32(lockClassMigrate), s.schema); err != nil {
			return err
		}
		// The lock timeout keeps the queries of serving nodes from
		// queueing behind a statement that waits for a table lock
		// (Options.MigrationLockTimeout).
		if _, err := tx.Exec(ctx, fmt.Sprintf("SET LOCAL lock_timeout = %d", lockTimeoutMillis(s.migrationLock))); err != nil {
			return err
		}
		var exists bool
		if err := tx.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1)", s.schema).Scan(&exists); err != nil {
			return err
		}
		if !exists {
			// Checked first: CREATE SCHEMA IF NOT EXISTS needs the CREATE
			// privilege on the database even when the schema exists.
			if _, err := tx.Exec(ctx, "CREATE SCHEMA IF NOT EXISTS "+schema); err != nil {
				return err
			}
		}
		if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS `+schema+`.schema_migrations (
			version    integer     NOT NULL PRIMARY KEY,
			name       text        NOT NULL,
			applied_at timestamptz NOT NULL DEFAULT now()
		)`); err != nil {
			return err
		}
		versions, pending, err := s.pending(ctx, tx, all)
		if err != nil {
			return err
		}
		batch := migration.Batch(pending)
		if len(versions) == 0 {
			// A new schema: no node serves on it, so nothing waits for
			// an index built in this transaction, and a concurrent build
			// would wait for every older transaction of the database.
			batch = pending
		}
		if len(batch) == 0 || batch[0].NoTransaction {
			outside = len(batch) > 0
			return nil
		}
		// Versions stay in order: what follows the batch runs outside.
		outside = len(batch) < len(pending)
		// Migration files name tables unqualified.
		if _, err := tx.Exec(ctx, "SET LOCAL search_path TO "+schema); err != nil {
			return err
		}
		for _, m := range batch {
			sql := m.SQL
			if m.NoTransaction {
				sql = concurrently.ReplaceAllString(sql, "INDEX")
			}
			if _, err := tx.Exec(ctx, sql); err != nil {
				return fmt.Errorf("%s: %w", m.Name, err)
			}
			if _, err := tx.Exec(ctx, "INSERT INTO "+schema+".schema_migrations (version, name) VALUES ($1, $2)", m.Version, m.Name); err != nil {
				return err
			}
			applied = append(applied, m)
		}
		return nil
	})
	return applied, outside, err
}

// pending reads the versions the schema records, with q (the migration's
// transaction or connection), and returns them with the migrations of all
// not among them.
func (s *Store) pending(ctx context.Context, q interface {
	Query(context.Context, string, ...any) (pgx.Rows, error)
}, all []migration.Migration) ([]int, []migration.Migration, error) {
	rows, err := q.Query(ctx, "SELECT version FROM "+pgx.Identifier{s.schema, "schema_migrations"}.Sanitize())
	if err != nil {
		return nil, nil, err
	}
	versions, err := pgx.CollectRows(rows, pgx.RowTo[int])
	if err != nil {
		return nil, nil, err
	}
	pending, err := migration.Pending(all, versions)
	if err != nil {
		return nil, nil, fmt.Errorf("schema %s: %w", s.schema, err)
	}
	return versions, pending, nil
}

// lockTimeoutMillis is d as lock_timeout's whole milliseconds, rounded up:
// PostgreSQL reads 0 as no timeout at all.
func lockTimeoutMillis(d time.Duration) int64 {
	return max(1, (d + time.Millisecond - 1).Milliseconds())
}

// concurrentIndexSQL is the one statement a migration outside a
// transaction may hold: an index built CONCURRENTLY, which a later start
// can check and finish (migrateOutside).
var concurrentIndexSQL = regexp.MustCompile(`(?is)^CREATE\s+(?:UNIQUE\s+)?INDEX\s+CONCURRENTLY\s+IF\s+NOT\s+EXISTS\s+([a-z_][a-z0-9_]*)\s+ON\s[^;]*;?$`)

// concurrently matches a concurrentIndexSQL statement's CONCURRENTLY,
// dropped when a new schema's transaction builds the index.
var concurrently = regexp.MustCompile(`(?i)\bINDEX\s+CONCURRENTLY\b`)

// concurrentIndex returns the index m builds outside a transaction, as
// pg_class names it, or "" if m is not one statement CREATE INDEX
// CONCURRENTLY IF NOT EXISTS.
func concurrentIndex(m migration.Migration) string {
	var b strings.Builder
	for line := range strings.Lines(m.SQL) {
		if !strings.HasPrefix(strings.TrimSpace(line), "--") {
			b.WriteString(line)
		}
	}
	match := concurrentIndexSQL.FindStringSubmatch(strings.TrimSpace(b.String()))
	if match == nil {
		return ""
	}
	// Unquoted, PostgreSQL folds it to lower case: as pg_class names it.
	return strings.ToLower(match[1])
}

// checkOutside fails unless each migration of all that runs outside a
// transaction builds one index CONCURRENTLY IF NOT EXISTS: anything else
// could not be resumed after it ended half-way.
func checkOutside(all []migration.Migration) error {
	for _, m := range all {
		if m.NoTransaction && concurrentIndex(m) == "" {
			return fmt.Errorf("migration %s: outside a transaction, only one CREATE INDEX CONCURRENTLY IF NOT EXISTS is supported", m.Name)
		}
	}
	return nil
}

// migrateOutsidePoll is how often a node waiting for another's migrations
// outside a transaction tries the lock again.
const migrateOutsidePoll = 100 * time.Millisecond

// migrateOutsideSay is how often a node waiting for that lock says so.
const migrateOutsideSay = time.Minute

// migrateOutside applies the first pending migrations that run outside a
// transaction (migration.Batch), in version order, on a connection of its
// own under a session-level advisory lock on the schema: a node starting
// meanwhile waits, then finds them done. Each version is recorded once its
// index is built. Its error is untranslated.
//
// A build that ended half-way (a node killed or its start cancelled)
// leaves an INVALID index, which PostgreSQL keeps up to date but never
// reads, and which IF NOT EXISTS would take as built: it is dropped, also
// CONCURRENTLY, and built again.
//
// No lock_timeout nor statement_timeout: a concurrent build holds up no
// serving query (its SHARE UPDATE EXCLUSIVE lock conflicts only with
// VACUUM, ANALYZE and DDL, not with reads or writes), and it waits for
// the transactions older than it on their transaction ids, which nothing
// queues behind. A timeout would only end it half-way and fail the start,
// every start (the DSN's, role's or database's statement_timeout is reset
// for that); ctx bounds the wait.
func (s *Store) migrateOutside(ctx context.Context, all []migration.Migration) error {
	pooled, err := s.pool.Acquire(ctx)
	if err != nil {
		return err
	}
	// Closed, not put back: it carries this session's settings and lock.
	conn := pooled.Hijack()
	defer func() {
		conn.Close(context.Background())
		// A statement cut short by ctx (a start cancelled during the
		// build) is cancelled in PostgreSQL by a request pgx sends in
		// the background (at most 15 s): waited for, as the pool waits
		// for its own connections, or a process exiting once its start
		// is cancelled outruns it, and the build goes on holding the
		// lock the next start waits for.
		<-conn.PgConn().CleanupDone()
	}()
	// Polled, not waited for in pg_advisory_lock: the waiting statement
	// would hold a snapshot, and the build it waits for waits for every
	// snapshot older than its own, a deadlock.
	// Said at once and then each minute: a start that waits here for
	// another node's build (or for a builder a partition keeps alive in
	// PostgreSQL's eyes) must not look hung.
	var said time.Time
	for waited := time.Now(); ; {
		var locked bool
		if err := conn.QueryRow(ctx, "SELECT pg_try_advisory_lock($1, hashtext($2))", int32(lockClassMigrateOutside), s.schema).Scan(&locked); err != nil {
			return err
		}
		if locked {
			break
		}
		if time.Since(said) >= migrateOutsideSay {
			said = time.Now()
			s.log.Info("pgstore: waiting for another node's migration outside a transaction (an index being built CONCURRENTLY)",
				"schema", s.schema, "waited", time.Since(waited).Round(time.Second).String())
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(migrateOutsidePoll):
		}
	}
	schema := pgx.Identifier{s.schema}.Sanitize()
	if _, err := conn.Exec(ctx, "SET search_path TO "+schema+"; SET lock_timeout = 0; SET statement_timeout = 0"); err != nil {
		return err
	}
	_, pending, err := s.pending(ctx, conn, all)
	if err != nil {
		return err
	}
	batch := migration.Batch(pending)
	if len(batch) == 0 || !batch[0].NoTransaction {
		return nil // another node applied them
	}
	for _, m := range batch {
		index := concurrentIndex(m)
		var valid bool
		err := conn.QueryRow(ctx, `SELECT i.indisvalid FROM pg_index i
			JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_namespace n ON n.oid = c.relnamespace
			WHERE n.nspname = $1 AND c.relname = $2`, s.schema, index).Scan(&valid)
		switch {
		case errors.Is(err, pgx.ErrNoRows):
		case err != nil:
			return err
		case !valid:
			s.log.Warn("pgstore: dropping an index a migration left unfinished, to build it again",
				"schema", s.schema, "version", m.Version, "name", m.Name, "index", index)
			if _, err := conn.Exec(ctx, "DROP INDEX CONCURRENTLY IF EXISTS "+pgx.Identifier{s.schema, index}.Sanitize()); err != nil {
				return fmt.Errorf("%s: drop invalid index %s: %w", m.Name, index, err)
			}
		}
		s.log.Info("pgstore: applying migration outside a transaction: serving continues; it waits for transactions older than it",
			"schema", s.schema, "version", m.Version, "name", m.Name)
		start := time.Now()
		if _, err := conn.Exec(ctx, m.SQL); err != nil {
			return fmt.Errorf("%s: %w", m.Name, err)
		}
		if _, err := conn.Exec(ctx, "INSERT INTO "+schema+".schema_migrations (version, name) VALUES ($1, $2)", m.Version, m.Name); err != nil {
			return err
		}
		s.log.Info("pgstore: applied migration", "schema", s.schema, "version", m.Version, "name", m.Name,
			"took", time.Since(start).Round(time.Millisecond).String())
	}
	return nil
}
