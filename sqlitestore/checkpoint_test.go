package sqlitestore

import (
	"context"
	"database/sql"
	"encoding/binary"
	"io"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// TestCheckpoint_RestartsLog: under writes while readers always hold a
// snapshot (a relay of two, each beginning before the other ends), passive
// checkpoints alone (main before the restart: 2,500-3,840 frames here)
// hardly ever let a commit start the log again from its beginning, and the
// -wal file grows with every write; the restart must start it again, over
// and over. Counted from the log's header, whose checkpoint sequence
// number SQLite raises at every restart, not from the file's size: how
// far the log grows between two restarts depends on how the machine
// schedules the readers (a restart a reader outwaits doubles the next
// threshold), 224-840 frames on a quiet machine, over 2,000 on a loaded
// one. Checkpoints run after every commit (every: 0), so the test writes a
// few MiB rather than 32.
func TestCheckpoint_RestartsLog(t *testing.T) {
	const (
		restartAt = 64  // frames
		rows      = 512 // each about a page, so a write dirties pages of its own
		span      = 8   // rows a write rewrites
		writers   = 8
		writes    = 480 // without restarts, the log reaches ~3,840 frames
	)
	path := filepath.Join(t.TempDir(), "wal.db")
	s, err := newStore(t.Context(), path, Options{}, checkpointing{restartFrames: restartAt})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := t.Context()
	// The table, then an empty log to start from.
	if _, err := s.db.ExecContext(ctx, `CREATE TABLE scratch (k INTEGER PRIMARY KEY, v BLOB);
		WITH RECURSIVE n(k) AS (SELECT 0 UNION ALL SELECT k+1 FROM n WHERE k+1 < ?)
		INSERT INTO scratch SELECT k, randomblob(3000) FROM n`, rows); err != nil {
		t.Fatal(err)
	}
	if _, err := s.db.ExecContext(ctx, `PRAGMA wal_checkpoint(TRUNCATE)`); err != nil {
		t.Fatal(err)
	}

	if err := s.write(ctx, "scratch", func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `UPDATE scratch SET v = randomblob(3000) WHERE k = 0`)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	before := walSequence(t, path)

	readCtx, stopReading := context.WithCancel(ctx)
	var readers sync.WaitGroup
	readers.Go(func() { relayReaders(readCtx, t, s.db) })

	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for w := range writers {
		wg.Go(func() {
			for i := w; i < writes; i += writers {
				err := s.write(ctx, "scratch", func(tx *sql.Tx) error {
					first := i * span % rows
					_, err := tx.ExecContext(ctx, `UPDATE scratch SET v = randomblob(3000) WHERE k >= ? AND k < ?`, first, first+span)
					return err
				})
				if err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	stopReading()
	readers.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("write = %v; want nil", err)
	}

	// Without the restart, 0 or 1 here; with it, a restart every few
	// hundred frames of the about 4,000 written.
	if restarts := walSequence(t, path) - before; restarts < 3 {
		t.Errorf("the log was restarted %d times in %d writes under a steady read load; want 3 or more", restarts, writes)
	}
}

// walSequence is the checkpoint sequence number in the header of path's
// -wal file (bytes 12-15, big-endian): SQLite raises it each time the log
// starts again from its beginning.
func walSequence(t *testing.T, path string) uint32 {
	t.Helper()
	f, err := os.Open(path + "-wal")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var hdr [16]byte
	if _, err := io.ReadFull(f, hdr[:]); err != nil {
		t.Fatalf("-wal header: %v", err)
	}
	return binary.BigEndian.Uint32(hdr[12:])
}

// relayReaders keeps a read transaction open on db until ctx ends: two
// connections take turns, each beginning its next snapshot before the
// other ends its own, as a steady read load does.
func relayReaders(ctx context.Context, t *testing.T, db *sql.DB) {
	var conns [2]*sql.Conn
	for i := range conns {
		c, err := db.Conn(ctx)
		if err != nil {
			t.Error(err)
			return
		}
		defer c.Close()
		conns[i] = c
	}
	bg := context.WithoutCancel(ctx)
	// A turn every millisecond, rather than as fast as it can go, leaves
	// the CPU to the writes (the race detector slows SQLite down tenfold).
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	var open *sql.Conn
	for i := 0; ctx.Err() == nil; i++ {
		select {
		case <-ctx.Done():
		case <-tick.C:
		}
		c := conns[i%2]
		var n int
		// BEGIN, not BeginTx: the pool's transactions are IMMEDIATE.
		if _, err := c.ExecContext(bg, "BEGIN"); err != nil {
			t.Error(err)
			return
		}
		if err := c.QueryRowContext(bg, "SELECT count(*) FROM scratch WHERE k < 32").Scan(&n); err != nil {
			t.Error(err)
			return
		}
		if open != nil {
			if _, err := open.ExecContext(bg, "COMMIT"); err != nil {
				t.Error(err)
				return
			}
		}
		open = c
	}
	if open != nil {
		_, _ = open.ExecContext(bg, "COMMIT")
	}
}

// TestCheckpoint_RestartBacksOff: a reader that keeps its snapshot past
// restartWait makes the restart give up, and the next one waits until the
// log has doubled rather than stall the writes again at once; once the
// reader has gone, a restart succeeds and the threshold is restartFrames
// again.
func TestCheckpoint_RestartBacksOff(t *testing.T) {
	const restartAt = 16 // frames
	ctx := t.Context()
	s, err := newStore(ctx, filepath.Join(t.TempDir(), "wal.db"), Options{}, checkpointing{restartFrames: restartAt})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	// The test runs the checkpoints: a concurrent one would make these
	// report busy.
	s.stop()
	s.bg.Wait()
	if _, err := s.db.ExecContext(ctx, `CREATE TABLE scratch (k INTEGER PRIMARY KEY, v BLOB)`); err != nil {
		t.Fatal(err)
	}
	write := func(n int) {
		t.Helper()
		for i := range n {
			err := s.write(ctx, "scratch", func(tx *sql.Tx) error {
				_, err := tx.ExecContext(ctx, `INSERT OR REPLACE INTO scratch VALUES (?, randomblob(3000))`, i)
				return err
			})
			if err != nil {
				t.Fatalf("write = %v; want nil", err)
			}
		}
	}
	reader, err := s.db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer reader.Close()
	c, err := s.checkpointConn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	frames := func() int {
		t.Helper()
		_, n, err := walCheckpoint(ctx, c, "PASSIVE")
		if err != nil {
			t.Fatal(err)
		}
		return n
	}

	write(restartAt) // a page a write, at least
	// BEGIN, not BeginTx: the pool's transactions are IMMEDIATE.
	if _, err := reader.ExecContext(ctx, "BEGIN"); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := reader.QueryRowContext(ctx, "SELECT count(*) FROM scratch").Scan(&n); err != nil {
		t.Fatal(err)
	}
	write(restartAt)
	held := frames()
	if held < restartAt {
		t.Fatalf("log = %d frames; want at least %d", held, restartAt)
	}
	next, err := s.checkpoint(ctx, c, restartAt)
	if err != nil || next < 2*held {
		t.Fatalf("checkpoint with a reader on the log at %d frames = %d, %v; want at least %d, nil", held, next, err, 2*held)
	}
	if _, err := reader.ExecContext(ctx, "COMMIT"); err != nil {
		t.Fatal(err)
	}
	write(restartAt)
	if got, err := s.checkpoint(ctx, c, restartAt); err != nil || got != restartAt {
		t.Fatalf("checkpoint after the reader left = %d, %v; want %d, nil", got, err, restartAt)
	}
}
