package memstore

import (
	"context"
	"time"

	"github.com/sessiond/sessiond"
)

var _ sessiond.WindowCounter = (*Store)(nil)

// Incr implements sessiond.WindowCounter with the root's in-memory
// counters: this store is one process's memory anyway.
func (s *Store) Incr(ctx context.Context, key string, now time.Time, window time.Duration) (int64, time.Time, error) {
	if err := s.rlock(ctx, "incr", sessiond.CheckCounter(key, window)); err != nil {
		return 0, time.Time{}, err
	}
	defer s.mu.RUnlock()
	return s.counts.Incr(ctx, key, now, window)
}
