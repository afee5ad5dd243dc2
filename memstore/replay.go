package memstore

import (
	"context"
	"fmt"
	"time"

	"github.com/sessiond/sessiond"
)

var _ sessiond.ReplayGuard = (*Store)(nil)

// RememberOnce implements sessiond.ReplayGuard with the root's in-memory
// set: this store is one process's memory anyway.
func (s *Store) RememberOnce(ctx context.Context, key string, now, until time.Time) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, fmt.Errorf("memstore: remember once: %w", err)
	}
	if err := sessiond.CheckReplayKey(key); err != nil {
		return false, fmt.Errorf("memstore: remember once: %w", err)
	}
	s.mu.Lock()
	closed := s.closed
	s.mu.Unlock()
	if closed {
		return false, errClosed
	}
	return s.once.RememberOnce(ctx, key, now, until)
}
