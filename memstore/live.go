package memstore

import (
	"context"
	"time"

	"github.com/sessiond/sessiond"
)

var _ sessiond.LiveCounter = (*Store)(nil)

// CountLive counts live sessions by strategy (a scan: the memory store is
// for tests and single processes).
func (s *Store) CountLive(ctx context.Context, now time.Time) (map[sessiond.Strategy]int, error) {
	if err := s.rlock(ctx, "count live"); err != nil {
		return nil, err
	}
	defer s.mu.RUnlock()
	out := map[sessiond.Strategy]int{}
	for _, rec := range s.sessions {
		if rec.s.Live(now) {
			out[rec.s.Strategy]++
		}
	}
	return out, nil
}
