package sqlitestore

import (
	"context"
	"time"

	"github.com/sessiond/sessiond"
)

var _ sessiond.LiveCounter = (*Store)(nil)

// CountLive counts live sessions by strategy.
func (s *Store) CountLive(ctx context.Context, now time.Time) (map[sessiond.Strategy]int, error) {
	rows, err := s.db.QueryContext(ctx, countLiveQuery, micro(now), micro(now))
	if err != nil {
		return nil, s.fail("count live", err)
	}
	defer rows.Close()
	out := map[sessiond.Strategy]int{}
	for rows.Next() {
		var st string
		var n int
		if err := rows.Scan(&st, &n); err != nil {
			return nil, s.fail("count live", err)
		}
		out[sessiond.Strategy(st)] = n
	}
	if err := rows.Err(); err != nil {
		return nil, s.fail("count live", err)
	}
	return out, nil
}

// countLiveQuery counts by reading the table in order: between two garbage
// collections nearly every row is live, and through sessions_idle_expires_at
// each would be looked up in the table one at a time, two to three times
// slower (4.3-8.5 s against 2.6 s for 1,625,362 live of 2,240,714). NOT
// INDEXED keeps SQLite off the expiry indexes and off the partial index of
// sessions not revoked (migration 0011), which would cost the same lookups.
const countLiveQuery = `SELECT strategy, count(*) FROM sessions NOT INDEXED
	WHERE revoked_at IS NULL AND expires_at > ? AND idle_expires_at > ? GROUP BY strategy`
