package pgstore

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"

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

// RememberOnce implements sessiond.ReplayGuard with one upsert: the row is
// inserted, or an expired row of the same key is taken over; a live row
// makes the statement return nothing. A concurrent insert of the key waits
// for the first to commit and then sees the live row, so exactly one caller
// on any node wins.
func (s *Store) RememberOnce(ctx context.Context, key string, now, until time.Time) (bool, error) {
	if s.closed.Load() {
		return false, errClosed
	}
	const op = "remember once"
	if err := sessiond.CheckReplayKey(key); err != nil {
		return false, wrap(op, err)
	}
	if !validText(key) {
		return false, wrap(op, textError("key"))
	}
	if !until.After(now) {
		until = now.Add(time.Millisecond)
	}
	if s.onceCalls.Add(1)%onceSweepEvery == 0 {
		if _, err := s.pool.Exec(ctx, `DELETE FROM `+s.q.schema+`.once_keys WHERE key IN (
			SELECT key FROM `+s.q.schema+`.once_keys WHERE until <= $1 LIMIT $2)`, now, onceSweepBatch); err != nil {
			return false, s.translate(op, err)
		}
	}
	var fresh bool
	err := s.pool.QueryRow(ctx, `INSERT INTO `+s.q.schema+`.once_keys AS o (key, until) VALUES ($1, $2)
		ON CONFLICT (key) DO UPDATE SET until = EXCLUDED.until WHERE o.until <= $3
		RETURNING true`, key, until, now).Scan(&fresh)
	if errors.Is(err, pgx.ErrNoRows) {
		return false, nil // live already: a replay
	}
	if err != nil {
		return false, s.translate(op, err)
	}
	return fresh, nil
}
