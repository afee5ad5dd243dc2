package sqlitestore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
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
// Copying pages back is not enough to keep the -wal file small: a writer
// starts the log again from its beginning only when every frame has been
// copied back and no reader still reads from the log. Under a sustained
// load there is always a reader holding a snapshot and always a commit the
// passive checkpoint has not reached yet, so the log was never restarted
// and the file grew without bound (0.66-1.1 GB after 18 s of 32 clients
// creating, then refreshing, sessions). So once the log holds restartFrames frames, the goroutine
// takes the write slot, so that no commit lands in between, and runs a
// RESTART checkpoint: it copies back the few frames written since the
// passive one and waits for the readers still on the log to finish (new
// ones then read the database file), so the next commit starts the log
// from its beginning. The -wal file stops growing at about restartFrames
// pages plus what is written while the passive checkpoints run (50-70 MB
// under that load); it keeps that size (RESTART, not TRUNCATE: the next
// commits reuse the file's blocks instead of growing it again). Writes
// queue in Go meanwhile, a stall of a copy of the last few frames, two
// fsyncs and the readers' wait, which restartWait bounds (21-28 ms on
// average, once or twice a second, under that load).
//
// Erasing. What garbage collection and retention delete (sessions, events,
// webhook deliveries: subjects, addresses, User-Agents) must not stay
// readable in the files past the bound the operator set. secure_delete(ON)
// (dsn) overwrites a deleted row, and a page freed, with zeros, so the
// checkpoint that copies those pages back clears the database file; but
// the log's frames written before the deletion still hold the rows, and
// RESTART leaves them in the file until later commits happen to overwrite
// them, which on a quiet deployment may be never. So after a deletion
// (Store.erased) the next checkpoint takes the write slot and runs a
// TRUNCATE checkpoint, which also empties the -wal file; when a reader
// outlasts restartWait it gives up and the next tries back off (1, 2, 4…
// checkpoints skipped, at most maxEraseBackoff), as restarts do. It runs after
// the collector's and retention's passes that deleted something (the
// collector runs once a minute by default; during a long pass each of its
// transactions marks the store again, so every checkpoint truncates), off
// the request path: one more stall of the writes like a restart's, and the
// log grows its file again from nothing.
//
// Durability does not change: a commit is in the -wal file (in the
// operating system's page cache, as before) when write returns, so it
// survives the process being killed; with synchronous=NORMAL (the
// default) the -wal file is synced at checkpoints, not at each commit, so
// a power loss can take the last commits, as it could before. With
// Options.FullSync each commit syncs it.

// checkpointing says when checkpoints run; New uses the constants below,
// tests their own.
type checkpointing struct {
	// every is the shortest interval between two checkpoints.
	every time.Duration
	// restartFrames is the log size, in frames (pages), from which a
	// checkpoint also restarts the log.
	restartFrames int
	// run runs PRAGMA wal_checkpoint(mode) on c; nil is walCheckpoint.
	// Tests make it fail.
	run func(ctx context.Context, c *sql.Conn, mode string) (busy bool, frames int, err error)
}

// checkpointRemind: while checkpoints keep failing the same way, how often
// the failure is logged again.
const checkpointRemind = 10 * time.Minute

// checkpointEvery: under a steady write load the log is copied back in
// runs of a tenth of a second of writes, each page once however often it
// changed.
const checkpointEvery = 100 * time.Millisecond

// restartFrames: 32 MiB of 4 KiB pages. Restarting more often would stall
// the writes more often for little: the file's size is what an operator
// sees, and a few tens of MiB is the size of a small database's cache.
const restartFrames = 8192

// restartWait bounds how long a restart waits, holding the write slot, for
// the readers still on the log. Readers here are single statements of a
// few milliseconds; one that holds its snapshot longer makes that restart
// give up, and the next try waits until the log has doubled.
const restartWait = 100 * time.Millisecond

// maxEraseBackoff bounds how many checkpoints skip a truncation after one
// that a reader outlasted: under writes up to ten a second, so a pending
// truncation is tried again within seconds of the reader leaving.
const maxEraseBackoff = 32

// restartPoll is how often a restart looks again whether the readers have
// left the log. SQLite's own busy handler would wait 1, 2, 5, 10, 15 ms…
// between looks, most of it after the readers had gone, with every write
// stalled.
const restartPoll = 200 * time.Microsecond

// kickCheckpoint asks for a checkpoint soon; it never blocks.
func (s *Store) kickCheckpoint() {
	select {
	case s.ckpt <- struct{}{}:
	default:
	}
}

// checkpoints runs a checkpoint after each kick, at most one per
// s.ckptCfg.every, until ctx ends.
func (s *Store) checkpoints(ctx context.Context) {
	var c *sql.Conn
	defer func() {
		if c != nil {
			_ = c.Close()
		}
	}()
	restartAt := s.ckptCfg.restartFrames
	var failing checkpointFailures
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.ckpt:
		}
		var err error
		if c == nil {
			c, err = s.checkpointConn(ctx)
		}
		if err == nil {
			restartAt, err = s.checkpoint(ctx, c, restartAt)
		}
		if errors.Is(err, sql.ErrConnDone) && c != nil {
			_ = c.Close()
			c = nil // the next kick takes another
		}
		switch {
		case err == nil:
			failing.succeeded(s.log)
		case ctx.Err() == nil && failing.failed(err, time.Now()):
			s.log.Warn("sqlitestore: checkpoint failed; until one succeeds every commit stays in the -wal file, which grows",
				"err", s.fail("checkpoint", err), "failures", failing.n)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(s.ckptCfg.every):
		}
	}
}

// checkpointConn takes the checkpoints' own connection from the pool,
// without a busy timeout: a RESTART checkpoint waits for readers in
// checkpoint's own loop instead.
func (s *Store) checkpointConn(ctx context.Context) (*sql.Conn, error) {
	c, err := s.db.Conn(ctx)
	if err != nil {
		return nil, err
	}
	if _, err := c.ExecContext(ctx, "PRAGMA busy_timeout = 0"); err != nil {
		_ = c.Close()
		return nil, err
	}
	return c, nil
}

// checkpoint runs a PASSIVE checkpoint on c and, when the log has reached
// restartAt frames, a RESTART one holding the write slot; after a
// deletion (s.erased), a TRUNCATE one holding it, whatever the log's size
// (Erasing, above). It returns the
// log size at which the next checkpoint should restart: restartFrames
// again, or, when a reader kept this restart from finishing, twice the
// log's size now (never less than restartAt: a truncation also runs on a
// small log). A reader that holds its snapshot for long (another
// process's long query) would otherwise stall the writes for restartWait
// at every checkpoint while it lasts; doubling makes those stalls rarer
// the longer it lasts, for a -wal file that ends up at most twice as
// large as the log grew meanwhile.
func (s *Store) checkpoint(ctx context.Context, c *sql.Conn, restartAt int) (next int, err error) {
	pending := s.erased.Load()
	erase := pending
	if pending && s.eraseSkip.Load() > 0 {
		// A reader outlasted the last truncation: this one does not take
		// the write slot for it (a restart still truncates).
		s.eraseSkip.Add(-1)
		erase = false
	}
	_, frames, err := s.walCheckpoint(ctx, c, "PASSIVE")
	if err != nil || frames < restartAt && !erase {
		return restartAt, err
	}
	// Once more before taking the slot: it copies back what was written
	// while the first ran, so the RESTART, which stalls the writes, has
	// only the last few frames left to copy.
	if _, _, err := s.walCheckpoint(ctx, c, "PASSIVE"); err != nil {
		return restartAt, err
	}
	if err := s.lockWrite(ctx, "checkpoint"); err != nil {
		return restartAt, err
	}
	defer s.unlockWrite()
	mode := "RESTART"
	if pending {
		mode = "TRUNCATE"
	}
	// Busy while a reader is still on the log; one that outlives
	// restartWait makes this restart give up, nothing to report (a
	// truncation is then tried again at the next checkpoint).
	for deadline := time.Now().Add(restartWait); ; time.Sleep(restartPoll) {
		busy, _, err := s.walCheckpoint(ctx, c, mode)
		switch {
		case err != nil:
			return restartAt, err
		case !busy:
			if pending {
				// Still holding the write slot: no deletion can
				// have committed since the truncation.
				s.erased.Store(false)
				s.eraseSkip.Store(0)
				s.eraseBackoff.Store(0)
			}
			return s.ckptCfg.restartFrames, nil
		case time.Now().After(deadline):
			if pending {
				// Skip the next tries, twice as many each time: a
				// long reader (a VACUUM INTO backup) would otherwise
				// stall the writes at every checkpoint it outlasts.
				b := min(max(2*s.eraseBackoff.Load(), 1), maxEraseBackoff)
				s.eraseBackoff.Store(b)
				s.eraseSkip.Store(b)
			}
			// A truncation runs below restartAt too: back off from
			// the threshold, never below it.
			return max(restartAt, 2*frames), nil
		}
	}
}

// walCheckpoint runs PRAGMA wal_checkpoint(mode) on c (or what the tests
// put in its place) and returns whether it could not finish (busy) and the
// size of the log, in frames.
func (s *Store) walCheckpoint(ctx context.Context, c *sql.Conn, mode string) (busy bool, frames int, err error) {
	if s.ckptCfg.run != nil {
		return s.ckptCfg.run(ctx, c, mode)
	}
	return walCheckpoint(ctx, c, mode)
}

// checkpointFailures keeps checkpoints that fail from flooding the log: a
// checkpoint runs after every burst of writes, up to ten times a second,
// and one that fails (a full or read-only disk) fails every time. The
// first failure is logged, then a different one, or the same one again
// after checkpointRemind, each with the count so far; the first success
// after them is logged too, so the log says when it ended.
type checkpointFailures struct {
	n      int       // failures since the last success
	last   string    // the error last logged
	logged time.Time // when it was
}

// failed counts a failure with err at now and reports whether to log it.
func (f *checkpointFailures) failed(err error, now time.Time) bool {
	f.n++
	msg := err.Error()
	if f.n > 1 && msg == f.last && now.Sub(f.logged) < checkpointRemind {
		return false
	}
	f.last, f.logged = msg, now
	return true
}

func (f *checkpointFailures) succeeded(log *slog.Logger) {
	if f.n == 0 {
		return
	}
	log.Info("sqlitestore: checkpoints succeed again", "failures", f.n)
	*f = checkpointFailures{}
}

// walCheckpoint runs PRAGMA wal_checkpoint(mode) on c and returns whether
// it could not finish (busy) and the size of the log, in frames.
func walCheckpoint(ctx context.Context, c *sql.Conn, mode string) (busy bool, frames int, err error) {
	var copied int
	if err := c.QueryRowContext(ctx, "PRAGMA wal_checkpoint("+mode+")").Scan(&busy, &frames, &copied); err != nil {
		return false, 0, fmt.Errorf("%s: %w", mode, err)
	}
	return busy, frames, nil
}
