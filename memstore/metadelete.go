package memstore

import (
	"context"
	"fmt"

	"github.com/sessiond/sessiond"
)

var _ sessiond.MetaDeleter = (*Store)(nil)

// DeleteMeta deletes a shared document if its version is still version;
// see sessiond.MetaDeleter.
func (s *Store) DeleteMeta(ctx context.Context, name string, version int64) error {
	if err := s.check(ctx, "delete meta", []error{sessiond.CheckMetaVersion(version)}); err != nil {
		return err
	}
	s.metaMu.Lock()
	defer s.metaMu.Unlock()
	if s.meta == nil {
		return errClosed
	}
	d, ok := s.meta[name]
	switch {
	case !ok:
		return fmt.Errorf("memstore: delete meta %q: %w", name, sessiond.ErrNotFound)
	case d.version != version:
		return fmt.Errorf("memstore: delete meta %q: version moved: %w", name, sessiond.ErrConflict)
	}
	delete(s.meta, name)
	return nil
}
