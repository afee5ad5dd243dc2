package sqlitestore

import (
	"context"
	"time"

	"github.com/sessiond/sessiond"
)

var _ sessiond.LiveCounter = (*Store)(nil)

// CountLive counts live sessions by strategy.
func (s *Store) CountLive(ctx context.Context, now time.Time) (map[sessiond.Strategy]int, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT strategy, count(*) FROM sessions
		WHERE revoked_at IS NULL AND expires_at > ? AND idle_expires_at > ? GROUP BY strategy`, micro(now), micro(now))
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
