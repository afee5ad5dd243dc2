package memstore

import (
	"cmp"
	"context"
	"fmt"
	"slices"

	"github.com/sessiond/sessiond"
)

var (
	_ sessiond.Limiter   = (*Store)(nil)
	_ sessiond.MetaStore = (*Store)(nil)
)

// CreateLimited stores sess after making room under the subject's limit;
// see sessiond.Limiter. The whole step holds the store's lock, so
// concurrent logins cannot overshoot max.
func (s *Store) CreateLimited(ctx context.Context, sess *sessiond.Session, max int, evict bool, tokens ...sessiond.Token) ([]sessiond.Revocation, error) {
	if err := ctxErr(ctx, "create session"); err != nil {
		return nil, err
	}
	if err := sessiond.CheckNewSession(sess, tokens); err != nil {
		return nil, fmt.Errorf("memstore: create session: %w", err)
	}
	if err := sessiond.CheckMax(max); err != nil {
		return nil, fmt.Errorf("memstore: create session: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, errClosed
	}
	now := sess.CreatedAt
	var live []*record
	for _, rec := range s.bySubject[sess.Subject] {
		if rec.s.Live(now) {
			live = append(live, rec)
		}
	}
	var out []sessiond.Revocation
	if excess := len(live) - (max - 1); excess > 0 {
		if !evict {
			return nil, fmt.Errorf("memstore: create session: %w", sessiond.ErrLimitReached)
		}
		// Least recently active first.
		slices.SortFunc(live, func(a, b *record) int {
			if c := a.s.LastActiveAt.Compare(b.s.LastActiveAt); c != 0 {
				return c
			}
			return cmp.Compare(a.s.ID, b.s.ID)
		})
		// Check the insert can succeed before evicting anything.
		if _, ok := s.sessions[sess.ID]; ok {
			return nil, fmt.Errorf("memstore: create session: session ID exists: %w", sessiond.ErrConflict)
		}
		for _, t := range tokens {
			if _, ok := s.tokens[t.Hash]; ok {
				return nil, fmt.Errorf("memstore: create session: token hash exists: %w", sessiond.ErrConflict)
			}
		}
		for _, rec := range live[:excess] {
			s.revoke(rec, now, sessiond.ReasonLimit)
			out = append(out, rec.revocation())
		}
	}
	if err := s.createLocked(sess, tokens); err != nil {
		return nil, err
	}
	return out, nil
}

type metaDoc struct {
	value   []byte
	version int64
}

// GetMeta returns a shared document; see sessiond.MetaStore.
func (s *Store) GetMeta(ctx context.Context, name string) ([]byte, int64, error) {
	if err := ctxErr(ctx, "get meta"); err != nil {
		return nil, 0, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
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
	if err := ctxErr(ctx, "put meta"); err != nil {
		return 0, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return 0, errClosed
	}
	if s.meta[name].version != version {
		return 0, fmt.Errorf("memstore: put meta %q: version moved: %w", name, sessiond.ErrConflict)
	}
	s.meta[name] = metaDoc{value: cloneBytes(value), version: version + 1}
	return version + 1, nil
}
