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
	return s.putMeta(name, value, version)
}

// putMeta is PutMeta under metaMu.
func (s *Store) putMeta(name string, value []byte, version int64) (int64, error) {
	if s.meta == nil {
		return 0, errClosed
	}
	if s.meta[name].version != version {
		return 0, fmt.Errorf("memstore: put meta %q: version moved: %w", name, sessiond.ErrConflict)
	}
	s.meta[name] = metaDoc{value: cloneBytes(value), version: version + 1}
	return version + 1, nil
}

var _ sessiond.MetaChangeRecorder = (*Store)(nil)

// PutMetaRecorded replaces a shared document as PutMeta does and, under
// the same locks, stores rec; see sessiond.MetaChangeRecorder.
func (s *Store) PutMetaRecorded(ctx context.Context, name string, value []byte, version int64, rec sessiond.ChangeRecords) (int64, error) {
	details, err := sessiond.EncodeEvents(rec.Events)
	if err := s.lock(ctx, "put meta", err, sessiond.CheckChangeEvents(rec.Events, rec.Deliveries)); err != nil {
		return 0, err
	}
	defer s.mu.Unlock()
	// mu before metaMu, as Close takes them.
	s.metaMu.Lock()
	defer s.metaMu.Unlock()
	next, err := s.putMeta(name, value, version)
	if err != nil {
		return 0, err
	}
	s.appendEvents(rec.Events, details)
	s.enqueue(rec.Deliveries)
	return next, nil
}
