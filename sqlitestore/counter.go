package sqlitestore

import (
	"context"
	"database/sql"
	"time"

	"github.com/sessiond/sessiond"
)

var _ sessiond.WindowCounter = (*Store)(nil)

// counterSweepEvery: one Incr in this many also deletes up to
// counterSweepBatch ended windows, so the table stays about as large as the
// windows still running. A sweep removes only windows that ended
// counterSweepMargin before the caller's now, so that a node whose clock is
// ahead of another's by less does not remove windows the other still
// counts in.
const (
	counterSweepEvery  = 64
	counterSweepBatch  = 256
	counterSweepMargin = time.Minute
)

// Incr implements sessiond.WindowCounter with one upsert, in a write
// transaction: writers take turns, so each caller gets its own count.
func (s *Store) Incr(ctx context.Context, key string, now time.Time, window time.Duration) (int64, time.Time, error) {
	const op = "incr"
	if err := sessiond.CheckCounter(key, window); err != nil {
		return 0, time.Time{}, s.fail(op, err)
	}
	var n, reset int64
	sweep := s.incrCalls.Add(1)%counterSweepEvery == 0
	err := s.write(ctx, op, func(tx *sql.Tx) error {
		if sweep {
			if _, err := tx.ExecContext(ctx, `DELETE FROM counters WHERE key IN (
				SELECT key FROM counters WHERE reset_at <= ? LIMIT ?)`, micro(now.Add(-counterSweepMargin)), counterSweepBatch); err != nil {
				return err
			}
		}
		return tx.QueryRowContext(ctx, `INSERT INTO counters AS c (key, count, reset_at) VALUES (?1, 1, ?3)
			ON CONFLICT (key) DO UPDATE SET
				count    = CASE WHEN c.reset_at <= ?2 THEN 1 ELSE c.count + 1 END,
				reset_at = CASE WHEN c.reset_at <= ?2 THEN excluded.reset_at ELSE c.reset_at END
			RETURNING count, reset_at`, key, micro(now), micro(now.Add(window))).Scan(&n, &reset)
	})
	if err != nil {
		return 0, time.Time{}, err
	}
	return n, fromMicro(reset), nil
}
