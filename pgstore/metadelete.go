package pgstore

import (
	"context"
	"fmt"

	"github.com/sessiond/sessiond"
)

var _ sessiond.MetaDeleter = (*Store)(nil)

// deleteMetaSQL deletes document $1 at version $2 and tells a delete from
// a missing document and a moved version in one statement. The EXISTS
// reads the statement's snapshot, taken before the DELETE, so it sees the
// row the DELETE did not take. Under READ COMMITTED a PutMeta committed
// while the DELETE waited for the row is re-checked against version = $2:
// the newer version is kept, and reported as a conflict.
func (q queries) deleteMetaSQL() string {
	return `WITH d AS (DELETE FROM ` + q.schema + `.meta WHERE name = $1 AND version = $2 RETURNING 1)
		SELECT EXISTS (SELECT 1 FROM d), EXISTS (SELECT 1 FROM ` + q.schema + `.meta WHERE name = $1)`
}

// DeleteMeta deletes document name if its version is still version; see
// sessiond.MetaDeleter.
func (s *Store) DeleteMeta(ctx context.Context, name string, version int64) error {
	op := fmt.Sprintf("delete meta %q", name)
	if err := s.begin(op, sessiond.CheckMetaVersion(version)); err != nil {
		return err
	}
	if !validText(name) {
		return fmt.Errorf("pgstore: %s: %w", op, sessiond.ErrNotFound) // no such name can be stored
	}
	var deleted, existed bool
	if err := s.pool.QueryRow(ctx, s.q.deleteMetaSQL(), name, version).Scan(&deleted, &existed); err != nil {
		return s.translate(op, err)
	}
	switch {
	case deleted:
		return nil
	case existed:
		return fmt.Errorf("pgstore: %s: version moved: %w", op, sessiond.ErrConflict)
	}
	return fmt.Errorf("pgstore: %s: %w", op, sessiond.ErrNotFound)
}
