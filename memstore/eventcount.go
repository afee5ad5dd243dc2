package memstore

import (
	"context"

	"github.com/sessiond/sessiond"
)

var _ sessiond.EventCounter = (*Store)(nil)

// CountEvents counts q.Type's events per bucket; see sessiond.EventCounter.
// It looks at every event in memory, decoding none.
func (s *Store) CountEvents(ctx context.Context, q sessiond.EventCountQuery) ([]int, error) {
	if err := s.rlock(ctx, "count events", q.Check()); err != nil {
		return nil, err
	}
	defer s.mu.RUnlock()
	out := make([]int, q.Buckets)
	for i := range s.events {
		e := &s.events[i].e
		if e.Type != q.Type {
			continue
		}
		if b := q.Bucket(e.Time); b >= 0 {
			out[b]++
		}
	}
	return out, nil
}
