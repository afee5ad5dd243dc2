package pgstore

import (
	"context"
	"time"

	"github.com/sessiond/sessiond"
)

var _ sessiond.WindowCounter = (*Store)(nil)

// counterSweepEvery: one Incr in this many also deletes up to
// counterSweepBatch ended windows, so the table stays about as large as the
// windows still running, without a background loop of its own. A sweep
// removes only windows that ended counterSweepMargin before the caller's
// now, so that a node whose clock is ahead of another's by less does not
// remove windows the other still counts in.
const (
	counterSweepEvery  = 64
	counterSweepBatch  = 256
	counterSweepMargin = time.Minute
)

// Incr implements sessiond.WindowCounter with one upsert: the row is
// inserted, counted up, or, when its window has ended, started again. A
// concurrent upsert of the key waits for the first to commit and then
// counts on from its row, so concurrent callers on any node each get their
// own count.
func (s *Store) Incr(ctx context.Context, key string, now time.Time, window time.Duration) (int64, time.Time, error) {
	if s.closed.Load() {
		return 0, time.Time{}, errClosed
	}
	const op = "incr"
	if err := sessiond.CheckCounter(key, window); err != nil {
		return 0, time.Time{}, wrap(op, err)
	}
	if s.incrCalls.Add(1)%counterSweepEvery == 0 {
		if _, err := s.pool.Exec(ctx, s.q.sweepCounters, now.Add(-counterSweepMargin), counterSweepBatch); err != nil {
			return 0, time.Time{}, s.translate(op, err)
		}
	}
	var (
		n     int64
		reset time.Time
	)
	if err := s.pool.QueryRow(ctx, s.q.incr, key, now, now.Add(window)).Scan(&n, &reset); err != nil {
		return 0, time.Time{}, s.translate(op, err)
	}
	return n, reset.UTC(), nil
}
