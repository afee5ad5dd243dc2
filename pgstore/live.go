package pgstore

import (
	"context"
	"time"

	"github.com/sessiond/sessiond"
)

var _ sessiond.LiveCounter = (*Store)(nil)

// CountLive returns how many sessions are live at now (neither revoked nor
// past either expiry), by strategy, in one statement; strategies without a
// live session are absent. It reads the whole sessions table (a sequential
// scan, about a second per few million sessions): meant for a metrics
// scrape that caches it, not for a request path.
func (s *Store) CountLive(ctx context.Context, now time.Time) (map[sessiond.Strategy]int, error) {
	if s.closed.Load() {
		return nil, errClosed
	}
	const op = "count live sessions"
	rows, err := s.pool.Query(ctx, s.q.countLive, now)
	if err != nil {
		return nil, s.translate(op, err)
	}
	defer rows.Close()
	out := make(map[sessiond.Strategy]int)
	for rows.Next() {
		var (
			strategy string
			n        int64
		)
		if err := rows.Scan(&strategy, &n); err != nil {
			return nil, s.translate(op, err)
		}
		out[sessiond.Strategy(strategy)] = int(n)
	}
	if err := rows.Err(); err != nil {
		return nil, s.translate(op, err)
	}
	return out, nil
}
