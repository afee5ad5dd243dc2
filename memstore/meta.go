package memstore

import (
	"context"
	"fmt"

	"github.com/sessiond/sessiond"
)

var _ sessiond.MetaStore = (*Store)(nil)

type metaDoc struct {
	value   []byte
	version int64
}

// GetMeta returns a shared document; see sessiond.MetaStore.
func (s *Store) GetMeta(ctx context.Context, name string) ([]byte, int64, error) {
	if err := s.check(ctx, "get meta", nil); err != nil {
		return nil, 0, err
	}
	s.metaMu.RLock()
	defer s.metaMu.RUnlock()
	if s.meta == nil {
		return nil, 0, errClosed
	}
	d, ok := s.meta[name]
	if !ok {
		return nil, 0, fmt.Errorf("memstore: get meta %q: %w", name, sessiond.ErrNotFound)
	}
	return cloneBytes(d.value), d.version, nil
}

// PutMeta replaces a shared document if its version is still version.
func (s *Store) PutMeta(ctx context.Context, name string, value []byte, version int64) (int64, error) {
	if err := s.check(ctx, "put meta", nil); err != nil {
		return 0, err
	}
	s.metaMu.Lock()
	defer s.metaMu.Unlock()
	if s.meta == nil {
		return 0, errClosed
	}
	if s.meta[name].version != version {
		return 0, fmt.Errorf("memstore: put meta %q: version moved: %w", name, sessiond.ErrConflict)
	}
	s.meta[name] = metaDoc{value: cloneBytes(value), version: version + 1}
	return version + 1, nil
}
