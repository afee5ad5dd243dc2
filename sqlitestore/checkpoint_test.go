package sqlitestore

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/binary"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestCheckpoint_RestartsLog: under writes while readers always hold a
// snapshot (a relay of two, each beginning before the other ends), passive
// checkpoints alone hardly ever let a commit start the log again from its
// beginning, and the -wal file grows with every write; the restart must
// start it again, over and over. Counted from the log's header, whose
// checkpoint sequence number SQLite raises at every restart, not from the
// file's size. Checkpoints run after every commit (every: 0), so the test
// writes a few MiB rather than 32. A writer waits, after each write, until
// a checkpoint has begun since it began the write: nothing else makes the
// checkpoint goroutine run during a burst of writes, and on a loaded
// machine all 480 writes went by before it ran once (0 restarts).
func TestCheckpoint_RestartsLog(t *testing.T) {
	const (
		restartAt = 64  // frames
		rows      = 512 // each about a page, so a write dirties pages of its own
		span      = 8   // rows a write rewrites
		writers   = 8
		writes    = 480 // without restarts, the log reaches ~3,840 frames
	)
	var ran checkpointGate
	path := filepath.Join(t.TempDir(), "wal.db")
	s, err := newStore(t.Context(), path, Options{}, checkpointing{restartFrames: restartAt, run: ran.run})
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
				checkpointed := ran.next()
				err := s.write(ctx, "scratch", func(tx *sql.Tx) error {
					first := i * span % rows
					_, err := tx.ExecContext(ctx, `UPDATE scratch SET v = randomblob(3000) WHERE k >= ? AND k < ?`, first, first+span)
					return err
				})
				if err == nil {
					err = checkpointed(ctx)
				}
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

	// With the restart, one every 64-70 frames of the about 3,840
	// written, 53-60 (a restart a reader outwaits doubles the next
	// threshold: a few fewer on a loaded machine); passive checkpoints
	// alone, 0-5. A quarter of the most there can be.
	if restarts, want := walSequence(t, path)-before, uint32(writes*span/restartAt/4); restarts < want {
		t.Errorf("the log was restarted %d times in %d writes under a steady read load; want %d or more", restarts, writes, want)
	}
}

// checkpointGate lets writers wait for the checkpoint goroutine: its run
// (checkpointing.run) opens the gate at every checkpoint it begins.
type checkpointGate struct {
	mu     sync.Mutex
	opened chan struct{} // closed by the next checkpoint; nil until next asks
}

func (g *checkpointGate) run(ctx context.Context, c *sql.Conn, mode string) (bool, int, error) {
	g.mu.Lock()
	if g.opened != nil {
		close(g.opened)
		g.opened = nil
	}
	g.mu.Unlock()
	return walCheckpoint(ctx, c, mode)
}

// next returns a wait for the next checkpoint to begin: called before a
// write, whose commit kicks one, it cannot miss it. The 30 s bound is a
// hang guard, not a measure.
func (g *checkpointGate) next() func(context.Context) error {
	g.mu.Lock()
	if g.opened == nil {
		g.opened = make(chan struct{})
	}
	opened := g.opened
	g.mu.Unlock()
	return func(ctx context.Context) error {
		select {
		case <-opened:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(30 * time.Second):
			return errors.New("no checkpoint began within 30s of a commit")
		}
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

// TestCheckpoint_FailuresLogged: checkpoints that keep failing (on a full
// disk every one does, up to ten a second under writes) are logged once,
// and the first success after them once, with how many failed; before,
// every failure was a line.
func TestCheckpoint_FailuresLogged(t *testing.T) {
	const failures = 5
	var logBuf bytes.Buffer
	ctx := t.Context()
	runs := make(chan int) // each checkpoint's number, sent while it runs
	n := 0
	run := func(ctx context.Context, _ *sql.Conn, _ string) (bool, int, error) {
		n++
		select {
		case runs <- n:
		case <-ctx.Done():
			return false, 0, ctx.Err()
		}
		if n <= failures {
			return false, 0, errors.New("database or disk is full")
		}
		return false, 0, nil
	}
	s, err := newStore(ctx, filepath.Join(t.TempDir(), "f.db"), Options{Logger: slog.New(slog.NewJSONHandler(&logBuf, nil))},
		checkpointing{restartFrames: restartFrames, run: run})
	if err != nil {
		t.Fatal(err)
	}
	// Each write kicks a checkpoint; one may already be pending from New.
	for last := 0; last <= failures; {
		if err := s.write(ctx, "kick", func(*sql.Tx) error { return nil }); err != nil {
			t.Fatal(err)
		}
		last = <-runs
	}
	if err := s.Close(); err != nil { // joins the checkpoint goroutine: its lines are written
		t.Fatal(err)
	}
	var failed, recovered []map[string]any
	for line := range bytes.Lines(logBuf.Bytes()) {
		var rec map[string]any
		if err := json.Unmarshal(line, &rec); err != nil {
			t.Fatal(err)
		}
		switch msg, _ := rec["msg"].(string); {
		case strings.HasPrefix(msg, "sqlitestore: checkpoint failed"):
			failed = append(failed, rec)
		case msg == "sqlitestore: checkpoints succeed again":
			recovered = append(recovered, rec)
		}
	}
	if len(failed) != 1 || failed[0]["failures"] != 1.0 {
		t.Errorf("checkpoint failure lines = %v; want one, for the first of %d failures", failed, failures)
	}
	if len(recovered) != 1 || recovered[0]["failures"] != float64(failures) {
		t.Errorf("recovery lines = %v; want one, counting %d failures", recovered, failures)
	}
}

// TestCheckpointFailures: which failures are logged: the first, one that
// differs from the last logged, and the same one again checkpointRemind
// after it was last logged; a success starts over.
func TestCheckpointFailures(t *testing.T) {
	full, ro := errors.New("database or disk is full"), errors.New("disk I/O error")
	t0 := time.Date(2026, 12, 6, 3, 0, 0, 0, time.UTC)
	type step struct {
		err    error // nil: a success
		after  time.Duration
		logged bool
	}
	for _, tc := range []struct {
		name  string
		steps []step
	}{
		{"same failure repeated", []step{{full, 0, true}, {full, time.Second, false}, {full, time.Minute, false}}},
		{"a different failure", []step{{full, 0, true}, {ro, time.Second, true}, {ro, 2 * time.Second, false}, {full, 3 * time.Second, true}}},
		{"reminder", []step{{full, 0, true}, {full, checkpointRemind - time.Second, false}, {full, checkpointRemind, true}, {full, checkpointRemind + time.Second, false}}},
		{"success starts over", []step{{full, 0, true}, {nil, time.Second, false}, {full, 2 * time.Second, true}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var f checkpointFailures
			log := slog.New(slog.DiscardHandler)
			for i, st := range tc.steps {
				if st.err == nil {
					f.succeeded(log)
					continue
				}
				if got := f.failed(st.err, t0.Add(st.after)); got != st.logged {
					t.Errorf("step %d: failed(%v, +%v) = %v; want %v", i, st.err, st.after, got, st.logged)
				}
			}
		})
	}
}
