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
