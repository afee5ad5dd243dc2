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
		return putMeta(ctx, tx, name, value, version)
	})
	if err != nil {
		return 0, err
	}
	return version + 1, nil
}

// putMeta is PutMeta in tx.
func putMeta(ctx context.Context, tx *sql.Tx, name string, value []byte, version int64) error {
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
}

var _ sessiond.MetaChangeRecorder = (*Store)(nil)

// PutMetaRecorded replaces a shared document as PutMeta does and, in the
// same transaction, stores rec; see sessiond.MetaChangeRecorder.
func (s *Store) PutMetaRecorded(ctx context.Context, name string, value []byte, version int64, rec sessiond.ChangeRecords) (int64, error) {
	const op = "put meta"
	enc, err := checkRecords(rec)
	if err != nil {
		return 0, wrap(op, err)
	}
	err = s.write(ctx, op, func(tx *sql.Tx) error {
		if err := putMeta(ctx, tx, name, value, version); err != nil {
			return err
		}
		if err := s.insertEvents(ctx, tx, rec.Events, enc); err != nil {
			return err
		}
		return s.insertDeliveries(ctx, tx, rec.Deliveries)
	})
	if err != nil {
		return 0, err
	}
	return version + 1, nil
}
