package sqlitestore

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/sessiond/sessiond"
)

var _ sessiond.MetaStore = (*Store)(nil)

// GetMeta returns a shared document; see sessiond.MetaStore.
func (s *Store) GetMeta(ctx context.Context, name string) ([]byte, int64, error) {
	var value []byte
	var version int64
	err := s.db.QueryRowContext(ctx, `SELECT value, version FROM meta WHERE name = ?`, name).Scan(&value, &version)
	if err != nil {
		return nil, 0, s.fail("get meta", err)
	}
	return value, version, nil
}

// PutMeta replaces a shared document if its version is still version.
func (s *Store) PutMeta(ctx context.Context, name string, value []byte, version int64) (int64, error) {
	err := s.write(ctx, "put meta", func(tx *sql.Tx) error {
		var res sql.Result
		var err error
		if version == 0 {
			res, err = tx.ExecContext(ctx, `INSERT INTO meta (name, value, version) VALUES (?, ?, 1)
				ON CONFLICT (name) DO NOTHING`, name, value)
		} else {
			res, err = tx.ExecContext(ctx, `UPDATE meta SET value = ?, version = version + 1
				WHERE name = ? AND version = ?`, value, name, version)
		}
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return fmt.Errorf("version moved: %w", sessiond.ErrConflict)
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	return version + 1, nil
}
