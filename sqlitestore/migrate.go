package sqlitestore

import (
	"context"
	"database/sql"
	"embed"
	"fmt"

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
