package pgstore

import (
	"context"
	"embed"
	"errors"
	"fmt"
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

// Migrate creates the schema if missing and applies, in one transaction and
// in version order, every embedded migration not recorded in its
// schema_migrations table. On an up-to-date schema it changes nothing. It
// fails if the schema carries a version this build does not know (a newer
// sessiond migrated it). New calls it; it is safe to run at the same time
// from any number of nodes: the transaction first takes an advisory lock
// on the schema, so one node migrates and the others then find nothing to
// do.
func (s *Store) Migrate(ctx context.Context) error {
	if s.closed.Load() {
		return errClosed
	}
	all, err := migration.Load(migrationFS, "migrations")
	if err != nil {
		return fmt.Errorf("pgstore: migrate: %w", err)
	}
	var applied []migration.Migration
	for attempt := 1; ; attempt++ {
		applied, err = s.migrateOnce(ctx, all)
		why := lockLost(err)
		if why == "" {
			break
		}
		if attempt == migrationAttempts {
			return fmt.Errorf("%w (schema %s, %d attempts of %s each; find the blocking transaction in pg_locks and pg_stat_activity): %w",
				ErrMigrationLocked, s.schema, attempt, s.migrationLock, s.translate("migrate", err))
		}
		pause := s.migrationLock * time.Duration(min(1<<(attempt-1), 8))
		s.log.Warn("pgstore: a migration "+why+"; rolled back, retrying",
			"schema", s.schema, "attempt", attempt, "of", migrationAttempts, "retry_in", pause.String())
		select {
		case <-ctx.Done():
			return s.translate("migrate", ctx.Err())
		case <-time.After(pause):
		}
	}
	if err != nil {
		return s.translate("migrate", err)
	}
	for _, m := range applied {
		s.log.Info("pgstore: applied migration", "schema", s.schema, "version", m.Version, "name", m.Name)
	}
	return nil
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

// migrateOnce is one attempt at Migrate's transaction: the migrations it
// applied, or its error untranslated.
func (s *Store) migrateOnce(ctx context.Context, all []migration.Migration) ([]migration.Migration, error) {
	schema := pgx.Identifier{s.schema}.Sanitize()
	var applied []migration.Migration
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		applied = nil
		// Held until commit. Everything below, CREATE SCHEMA included,
		// happens under it, so concurrent starts cannot race on DDL. It
		// waits without a bound: only other migrating nodes hold it.
		if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1, hashtext($2))", int32(lockClassMigrate), s.schema); err != nil {
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
		rows, err := tx.Query(ctx, "SELECT version FROM "+schema+".schema_migrations")
		if err != nil {
			return err
		}
		versions, err := pgx.CollectRows(rows, pgx.RowTo[int])
		if err != nil {
			return err
		}
		pending, err := migration.Pending(all, versions)
		if err != nil {
			return fmt.Errorf("schema %s: %w", s.schema, err)
		}
		if len(pending) == 0 {
			return nil
		}
		// Migration files name tables unqualified. The lock timeout keeps
		// the queries of serving nodes from queueing behind a DDL statement
		// that waits for a lock (Options.MigrationLockTimeout).
		if _, err := tx.Exec(ctx, fmt.Sprintf("SET LOCAL search_path TO %s; SET LOCAL lock_timeout = %d",
			schema, lockTimeoutMillis(s.migrationLock))); err != nil {
			return err
		}
		for _, m := range pending {
			if _, err := tx.Exec(ctx, m.SQL); err != nil {
				return fmt.Errorf("%s: %w", m.Name, err)
			}
			if _, err := tx.Exec(ctx, "INSERT INTO "+schema+".schema_migrations (version, name) VALUES ($1, $2)", m.Version, m.Name); err != nil {
				return err
			}
			applied = append(applied, m)
		}
		return nil
	})
	return applied, err
}

// lockTimeoutMillis is d as lock_timeout's whole milliseconds, rounded up:
// PostgreSQL reads 0 as no timeout at all.
func lockTimeoutMillis(d time.Duration) int64 {
	return max(1, (d + time.Millisecond - 1).Milliseconds())
}
