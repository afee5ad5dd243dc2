package sqlitestore

import (
	"context"
	"time"
)

// Checkpoints. In WAL mode a commit appends pages to the -wal file, and a
// checkpoint copies them back into the database file (with an fsync of
// each). SQLite's automatic checkpoint runs inside the commit that takes
// the log past 1,000 pages, so one write in a thousand pages paid for all
// of them while every write queued behind it waited: the write slot is one
// at a time (see group commit). Here the connections do not checkpoint by
// themselves (wal_autocheckpoint(0) in dsn); after a commit the writer
// kicks a goroutine that runs a PASSIVE checkpoint, the same kind the
// automatic one is, beside the writes instead of in their way.
//
// Durability does not change: a commit is in the -wal file (in the
// operating system's page cache, as before) when write returns, so it
// survives the process being killed; with synchronous=NORMAL the -wal file
// is synced at checkpoints, not at each commit, so a power loss can take
// the last commits, as it could before.

// checkpointEvery is the shortest interval between two checkpoints: under
// a steady write load the log is copied back in runs of a tenth of a
// second of writes, each page once however often it changed.
const checkpointEvery = 100 * time.Millisecond

// kickCheckpoint asks for a checkpoint soon; it never blocks.
func (s *Store) kickCheckpoint() {
	select {
	case s.ckpt <- struct{}{}:
	default:
	}
}

// checkpoints runs a PASSIVE checkpoint after each kick, at most one per
// checkpointEvery, until ctx ends.
func (s *Store) checkpoints(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.ckpt:
		}
		if _, err := s.db.ExecContext(ctx, "PRAGMA wal_checkpoint(PASSIVE)"); err != nil && ctx.Err() == nil {
			s.log.Warn("sqlitestore: checkpoint", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(checkpointEvery):
		}
	}
}
