package sqlitestore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/sessiond/sessiond"
)

var _ sessiond.MetaDeleter = (*Store)(nil)

// DeleteMeta deletes a shared document if its version is still version;
// see sessiond.MetaDeleter. The read of the version and the delete are
// one write, so no writer comes between them.
func (s *Store) DeleteMeta(ctx context.Context, name string, version int64) error {
	if err := sessiond.CheckMetaVersion(version); err != nil {
		return wrap("delete meta", err)
	}
	return s.write(ctx, "delete meta", func(tx *sql.Tx) error {
		var v int64
		err := tx.QueryRowContext(ctx, `SELECT version FROM meta WHERE name = ?`, name).Scan(&v)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			return fmt.Errorf("%q: %w", name, sessiond.ErrNotFound)
		case err != nil:
			return err
		case v != version:
			return fmt.Errorf("%q: version moved: %w", name, sessiond.ErrConflict)
		}
		_, err = tx.ExecContext(ctx, `DELETE FROM meta WHERE name = ?`, name)
		return err
	})
}
