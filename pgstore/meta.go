package pgstore

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/sessiond/sessiond"
)

var _ sessiond.MetaStore = (*Store)(nil)

// GetMeta returns the shared document name and its version, or
// ErrNotFound.
func (s *Store) GetMeta(ctx context.Context, name string) ([]byte, int64, error) {
	if s.closed.Load() {
		return nil, 0, errClosed
	}
	op := fmt.Sprintf("get meta %q", name)
	if !validText(name) {
		return nil, 0, fmt.Errorf("pgstore: %s: %w", op, sessiond.ErrNotFound)
	}
	var (
		value   []byte
		version int64
	)
	err := s.pool.QueryRow(ctx, s.q.getMeta, name).Scan(&value, &version)
	if err != nil {
		return nil, 0, s.translate(op, err)
	}
	return value, version, nil
}

// PutMeta stores value as document name if its version is still version
// (0: it must not exist yet) and returns the new version, one more;
// otherwise it changes nothing and fails with ErrConflict. Each case is one
// statement: INSERT … ON CONFLICT DO NOTHING, or UPDATE … WHERE version =
// $3, which under READ COMMITTED re-checks the version on the row a
// concurrent writer committed, so of any number of writers holding one
// version exactly one wins.
func (s *Store) PutMeta(ctx context.Context, name string, value []byte, version int64) (int64, error) {
	if s.closed.Load() {
		return 0, errClosed
	}
	op := fmt.Sprintf("put meta %q", name)
	if !validText(name) {
		return 0, wrap(op, textError("name"))
	}
	if value == nil {
		value = []byte{} // the column is NOT NULL
	}
	q := s.q.updateMeta
	if version == 0 {
		q = s.q.insertMeta
	}
	var next int64
	err := s.pool.QueryRow(ctx, q, name, value, version).Scan(&next)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, fmt.Errorf("pgstore: %s: version moved: %w", op, sessiond.ErrConflict)
	}
	if err != nil {
		return 0, s.translate(op, err)
	}
	return next, nil
}

var _ sessiond.MetaChangeRecorder = (*Store)(nil)

// errMetaMoved rolls back PutMetaRecorded's transaction when the version
// moved.
var errMetaMoved = errors.New("version moved")

// PutMetaRecorded stores value as PutMeta does and, in the same
// transaction, rec; see sessiond.MetaChangeRecorder. The records go in a
// batch after the compare-and-swap: two round trips, which the rare
// changes of a shared document (an API key made or revoked) can afford.
func (s *Store) PutMetaRecorded(ctx context.Context, name string, value []byte, version int64, rec sessiond.ChangeRecords) (int64, error) {
	if s.closed.Load() {
		return 0, errClosed
	}
	op := fmt.Sprintf("put meta %q", name)
	if !validText(name) {
		return 0, wrap(op, textError("name"))
	}
	evArgs, dArgs, err := recordArgs(rec)
	if err != nil {
		return 0, wrap(op, err)
	}
	if value == nil {
		value = []byte{} // the column is NOT NULL
	}
	q := s.q.updateMeta
	if version == 0 {
		q = s.q.insertMeta
	}
	var next int64
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		err := tx.QueryRow(ctx, q, name, value, version).Scan(&next)
		if errors.Is(err, pgx.ErrNoRows) {
			return errMetaMoved
		}
		if err != nil {
			return err
		}
		b := &pgx.Batch{}
		s.queueRecordArgs(b, evArgs, dArgs)
		if b.Len() == 0 {
			return nil
		}
		return tx.SendBatch(ctx, b).Close()
	})
	if errors.Is(err, errMetaMoved) {
		return 0, fmt.Errorf("pgstore: %s: version moved: %w", op, sessiond.ErrConflict)
	}
	if err != nil {
		return 0, s.translate(op, err)
	}
	return next, nil
}
