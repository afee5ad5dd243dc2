package sqlitestore

import (
	"context"
	"database/sql"
	"time"

	"github.com/sessiond/sessiond"
)

var _ sessiond.ReplayGuard = (*Store)(nil)

// onceSweepEvery: one RememberOnce in this many also deletes up to
// onceSweepBatch expired keys, so the table stays about as large as the
// keys still live without a background loop of its own.
const (
	onceSweepEvery = 64
	onceSweepBatch = 256
)

// RememberOnce implements sessiond.ReplayGuard with one upsert in a write
// transaction: the row is inserted, or an expired row of the same key is
// taken over; a live row leaves the statement with nothing changed. SQLite
// takes one writer at a time, across processes sharing the file too, so
// exactly one caller wins.
func (s *Store) RememberOnce(ctx context.Context, key string, now, until time.Time) (bool, error) {
	const op = "remember once"
	if err := sessiond.CheckReplayKey(key); err != nil {
		return false, wrap(op, err)
	}
	if !until.After(now) {
		until = now.Add(time.Millisecond)
	}
	sweep := s.onceCalls.Add(1)%onceSweepEvery == 0
	var fresh bool
	err := s.write(ctx, op, func(tx *sql.Tx) error {
		if sweep {
			if _, err := tx.ExecContext(ctx, `DELETE FROM once_keys WHERE key IN (
				SELECT key FROM once_keys WHERE until <= ? LIMIT ?)`, micro(now), onceSweepBatch); err != nil {
				return err
			}
		}
		res, err := tx.ExecContext(ctx, `INSERT INTO once_keys (key, until) VALUES (?, ?)
			ON CONFLICT (key) DO UPDATE SET until = excluded.until WHERE once_keys.until <= ?`,
			key, micro(until), micro(now))
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		fresh = n == 1
		return err
	})
	if err != nil {
		return false, err
	}
	return fresh, nil
}
