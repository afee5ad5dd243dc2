package sqlitestore

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/internal/migration"
)

//go:embed migrations/*.sql
var migrationFS embed.FS

// Migrate applies, in one transaction and in version order, every embedded
// migration the database has not recorded in schema_migrations. On an
// up-to-date database it changes nothing. It fails if the database carries
// a version this build does not know (it was migrated by a newer sessiond).
// New calls it; it is safe to call again, from any number of processes.
func (s *Store) Migrate(ctx context.Context) error {
	all, err := migration.Load(migrationFS, "migrations")
	if err == nil {
		// Every migration runs in the one transaction below.
		err = migration.RequireTransactional(all)
	}
	if err != nil {
		return fmt.Errorf("sqlitestore: migrate: %w", err)
	}
	var applied []string
	err = s.write(ctx, "migrate", func(tx *sql.Tx) error {
		applied = nil // a group commit may run this twice
		if _, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
			version    INTEGER NOT NULL PRIMARY KEY,
			applied_at INTEGER NOT NULL DEFAULT (unixepoch())
		) STRICT`); err != nil {
			return err
		}
		versions, err := appliedVersions(ctx, tx)
		if err != nil {
			return err
		}
		pending, err := migration.Pending(all, versions)
		if err != nil {
			return fmt.Errorf("database %w", err)
		}
		for _, m := range pending {
			if _, err := tx.ExecContext(ctx, m.SQL); err != nil {
				return fmt.Errorf("%s: %w", m.Name, err)
			}
			if _, err := tx.ExecContext(ctx, "INSERT INTO schema_migrations (version) VALUES (?)", m.Version); err != nil {
				return fmt.Errorf("%s: %w", m.Name, err)
			}
			applied = append(applied, m.Name)
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, name := range applied {
		s.log.Info("sqlitestore: applied migration", "migration", name)
	}
	return nil
}

// checkCurrent fails unless every embedded migration is applied
// (Options.NoMigrate). It only reads: a file no sessiond has migrated has
// no schema_migrations table, and every migration is pending.
func (s *Store) checkCurrent(ctx context.Context) error {
	all, err := migration.Load(migrationFS, "migrations")
	if err != nil {
		return fmt.Errorf("sqlitestore: migrate: %w", err)
	}
	var versions []int
	var tables int
	err = s.db.QueryRowContext(ctx, "SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name = 'schema_migrations'").Scan(&tables)
	if err == nil && tables > 0 {
		versions, err = appliedVersions(ctx, s.db)
	}
	if err != nil {
		return s.fail("open", err)
	}
	if err := migration.Current(all, versions); err != nil {
		return fmt.Errorf("sqlitestore: database %w", err)
	}
	return nil
}

// mustExist fails, matching sessiond.ErrNotFound, unless the file at abs
// exists and holds sessiond's migration table (Options.MustExist). It only
// reads, on a connection of its own without the store's pragmas (whose
// journal_mode(WAL) would rewrite another application's database), and
// creates nothing.
func mustExist(ctx context.Context, abs string) error {
	if _, err := os.Stat(abs); errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("sqlitestore: open: %s does not exist: %w", abs, sessiond.ErrNotFound)
	} else if err != nil {
		return fmt.Errorf("sqlitestore: open: %w", err)
	}
	db, err := sql.Open("sqlite", fileURI(abs, url.Values{
		"mode":    {"rw"}, // never create it
		"_pragma": {fmt.Sprintf("busy_timeout(%d)", busyTimeoutMS)},
	}))
	if err != nil {
		return fmt.Errorf("sqlitestore: open: %w", err)
	}
	defer db.Close()
	var tables int
	if err := db.QueryRowContext(ctx, "SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name = 'schema_migrations'").Scan(&tables); err != nil {
		var none Store // fail needs no open store
		return none.fail("open", err)
	}
	if tables == 0 {
		return fmt.Errorf("sqlitestore: open: %s holds no sessiond tables: %w", abs, sessiond.ErrNotFound)
	}
	return nil
}

// appliedVersions lists the versions schema_migrations records.
func appliedVersions(ctx context.Context, q interface {
	QueryContext(context.Context, string, ...any) (*sql.Rows, error)
}) ([]int, error) {
	rows, err := q.QueryContext(ctx, "SELECT version FROM schema_migrations")
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []int
	for rows.Next() {
		var v int
		if err := rows.Scan(&v); err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}
