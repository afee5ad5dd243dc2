package sqlitestore

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/sessiond/sessiond"
)

// TestStore_DeletedLeavesNoTrace: what garbage collection and retention delete
// (an expired session, an event, a finished webhook delivery: each holds a
// subject, an address and a User-Agent) must be gone from the database file
// and its -wal once the checkpoint after the deletion has run, not only
// from the tables. SQLite otherwise leaves a deleted row's bytes in its
// page's free space, on free pages and in the log's old frames, so a copy
// of the files (a backup) still held them long after events.retention.
func TestStore_DeletedLeavesNoTrace(t *testing.T) {
	now := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	cases := []struct {
		name  string
		store func(ctx context.Context, s *Store, mark string) error
		del   func(ctx context.Context, s *Store) (int, error)
	}{
		{"ExpiredSession", func(ctx context.Context, s *Store, mark string) error {
			sess := &sessiond.Session{ID: sessiond.NewSessionID(), Subject: mark, Strategy: sessiond.StrategyHybrid,
				CreatedAt: now.Add(-2 * time.Hour), LastActiveAt: now.Add(-2 * time.Hour),
				IdleExpiresAt: now.Add(-time.Hour), ExpiresAt: now.Add(-time.Hour),
				Client: sessiond.Client{IP: "198.51.100.77", UserAgent: mark + "-agent"},
				Claims: []byte(`{"email":"` + mark + `@example.com"}`)}
			return s.Create(ctx, sess, sessiond.Token{Hash: sessiond.HashToken(sessiond.Secret(sess.ID)), Kind: sessiond.KindRefresh,
				SessionID: sess.ID, IssuedAt: sess.CreatedAt, ExpiresAt: sess.ExpiresAt})
		}, func(ctx context.Context, s *Store) (int, error) {
			return s.DeleteExpired(ctx, now, 1000)
		}},
		{"Event", func(ctx context.Context, s *Store, mark string) error {
			at := now.Add(-100 * 24 * time.Hour)
			return s.AppendEvents(ctx, sessiond.Event{ID: sessiond.NewEventID(at), Time: at, Type: sessiond.EventSessionCreated,
				Subject: mark, SessionID: sessiond.NewSessionID(), Client: sessiond.Client{IP: "198.51.100.77", UserAgent: mark + "-agent"}})
		}, func(ctx context.Context, s *Store) (int, error) {
			return s.DeleteEventsBefore(ctx, now.Add(-90*24*time.Hour), 1000)
		}},
		{"DeadDelivery", func(ctx context.Context, s *Store, mark string) error {
			at := now.Add(-100 * 24 * time.Hour)
			d := sessiond.Delivery{ID: "msg_" + mark, Endpoint: "siem", EventID: sessiond.NewEventID(at),
				Payload: []byte(`{"data":{"subject":"` + mark + `","client":{"ip":"198.51.100.77"}}}`),
				State:   sessiond.DeliveryPending, NextAttemptAt: at, CreatedAt: at, UpdatedAt: at}
			if err := s.EnqueueDeliveries(ctx, d); err != nil {
				return err
			}
			return s.FinishDelivery(ctx, d.ID, sessiond.DeliveryDead, 8, at, "refused", at)
		}, func(ctx context.Context, s *Store) (int, error) {
			return s.DeleteDeliveriesBefore(ctx, now.Add(-90*24*time.Hour), 1000)
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ctx := t.Context()
			path := filepath.Join(t.TempDir(), "erase.db")
			// Checkpoints run when the test says (checkpointNow), not when
			// the store's goroutine gets to them.
			s, err := newStore(ctx, path, Options{}, checkpointing{every: time.Hour, restartFrames: restartFrames})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			// Rows written before and after the marked one, so that its
			// frames sit past those the deletion writes when it starts
			// the log again from its beginning.
			filler := func(from int) {
				for i := range 40 {
					if err := tc.store(ctx, s, fmt.Sprintf("filler-%05d", from+i)); err != nil {
						t.Fatal(err)
					}
				}
			}
			mark := "zz-forget-" + tc.name
			filler(0)
			if err := tc.store(ctx, s, mark); err != nil {
				t.Fatal(err)
			}
			filler(100)
			// Copied into the database file, as the store's checkpoints do
			// shortly after every commit.
			if err := s.checkpointNow(ctx); err != nil {
				t.Fatal(err)
			}
			if got := traces(t, path, mark); len(got) == 0 {
				t.Fatalf("before the deletion the marked row is in no file: the test cannot see a trace")
			}
			if n, err := tc.del(ctx, s); err != nil || n != 81 {
				t.Fatalf("delete = %d, %v; want 81, nil", n, err)
			}
			if err := s.checkpointNow(ctx); err != nil {
				t.Fatal(err)
			}
			if got := traces(t, path, mark); len(got) > 0 {
				t.Errorf("after the deletion and a checkpoint, %q is still in %v", mark, got)
			}
		})
	}
}

// traces lists the files of the database at path (itself, -wal) whose
// bytes hold mark.
func traces(t *testing.T, path, mark string) []string {
	t.Helper()
	var out []string
	for _, f := range []string{path, path + "-wal"} {
		b, err := os.ReadFile(f)
		if err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
		if bytes.Contains(b, []byte(mark)) {
			out = append(out, filepath.Base(f))
		}
	}
	return out
}

// TestStore_DeletedTruncationRetried: a reader still on the log when the
// checkpoint after a deletion runs makes its truncation give up; a later
// checkpoint (the second: the first after a give-up backs off), once the
// reader has gone, truncates the log, even though nothing was deleted in
// between.
func TestStore_DeletedTruncationRetried(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "retry.db")
	// The checkpoint goroutine runs once, after the first commit's kick,
	// and then not for an hour: the test waits for that run, so that it
	// cannot land among the test's own checkpoints and back off twice
	// (under load it ran while the reader held the log).
	ran := make(chan struct{}, 1)
	run := func(ctx context.Context, c *sql.Conn, mode string) (bool, int, error) {
		busy, frames, err := walCheckpoint(ctx, c, mode)
		select {
		case ran <- struct{}{}:
		default:
		}
		return busy, frames, err
	}
	s, err := newStore(ctx, path, Options{}, checkpointing{every: time.Hour, restartFrames: restartFrames, run: run})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	at := time.Date(2026, 8, 1, 0, 0, 0, 0, time.UTC)
	const mark = "zz-forget-retried"
	for i := range 2 {
		e := sessiond.Event{ID: sessiond.NewEventID(at), Time: at, Type: sessiond.EventSessionCreated, Subject: fmt.Sprintf("%s-%d", mark, i)}
		if err := s.AppendEvents(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	<-ran // the goroutine's one run: a PASSIVE checkpoint, nothing erased yet
	// A reader holding a snapshot that reaches into the log: a query
	// stopped after its first row.
	rows, err := s.db.QueryContext(ctx, `SELECT subject FROM events`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	if !rows.Next() {
		t.Fatalf("the reader read no event: %v", rows.Err())
	}
	if n, err := s.DeleteEventsBefore(ctx, at.Add(time.Second), 10); err != nil || n != 2 {
		t.Fatalf("DeleteEventsBefore = %d, %v; want 2, nil", n, err)
	}
	if err := s.checkpointNow(ctx); err != nil {
		t.Fatal(err)
	}
	if !s.erased.Load() {
		t.Fatalf("after a checkpoint a reader kept from truncating the log, erased = false; want true (to try again)")
	}
	if err := rows.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.checkpointNow(ctx); err != nil {
		t.Fatal(err)
	}
	if !s.erased.Load() {
		t.Fatalf("the first checkpoint after a truncation gave up did not back off: erased = false; want true")
	}
	if err := s.checkpointNow(ctx); err != nil {
		t.Fatal(err)
	}
	if s.erased.Load() {
		t.Errorf("after the reader left and a checkpoint ran, erased = true; want false")
	}
	if fi, err := os.Stat(path + "-wal"); err != nil || fi.Size() != 0 {
		t.Errorf("-wal after the retried truncation: %v, %v; want an empty file", fi, err)
	}
	if got := traces(t, path, mark); len(got) > 0 {
		t.Errorf("%q is still in %v", mark, got)
	}
}

// TestStore_DeletionKicksTruncation: on a quiet store, the deletion alone
// (no write after it) is followed by a truncating checkpoint. The commit
// kicks the checkpoint goroutine before deleteLimited marks the store
// erased, so a goroutine quick to wake read erased = false, ran a passive
// checkpoint, and the deleted rows stayed in the -wal until the next
// write, on a quiet deployment for hours (1 deletion in about 20 on the
// 2-vCPU VM). Each round waits, with no timing, for a checkpoint on an
// idle goroutine before deleting.
func TestStore_DeletionKicksTruncation(t *testing.T) {
	ctx := t.Context()
	modes := make(chan string, 64)
	run := func(ctx context.Context, c *sql.Conn, mode string) (bool, int, error) {
		busy, frames, err := walCheckpoint(ctx, c, mode)
		select {
		case modes <- mode:
		default: // the test is not listening: a round's leftovers
		}
		return busy, frames, err
	}
	s, err := newStore(ctx, filepath.Join(t.TempDir(), "kick.db"), Options{}, checkpointing{restartFrames: restartFrames, run: run})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	at := time.Date(2026, 8, 1, 0, 0, 0, 0, time.UTC)
	// Long enough for a liveness bound, never reached when the code is
	// right: each round's truncation follows its deletion at once.
	const stuck = 10 * time.Second
	for round := range 100 {
		if err := s.AppendEvents(ctx, sessiond.Event{ID: sessiond.NewEventID(at), Time: at, Type: sessiond.EventSessionCreated,
			Subject: "zz-forget-kick"}); err != nil {
			t.Fatal(err)
		}
		// The append's checkpoint ran: the goroutine waits for a kick.
		for mode := ""; mode != "PASSIVE"; {
			mode = <-modes
		}
		for len(modes) > 0 {
			<-modes
		}
		if n, err := s.DeleteEventsBefore(ctx, at.Add(time.Second), 10); err != nil || n != 1 {
			t.Fatalf("round %d: DeleteEventsBefore = %d, %v; want 1, nil", round, n, err)
		}
		timeout := time.After(stuck)
		for mode := ""; mode != "TRUNCATE"; {
			select {
			case mode = <-modes:
			case <-timeout:
				t.Fatalf("round %d: no truncating checkpoint after a deletion with no write after it (erased = %v)", round, s.erased.Load())
			}
		}
	}
}

// TestCheckpoint_TruncationBackOffKeepsThreshold: a truncation after a
// deletion runs whatever the log's size; when a reader keeps it from
// finishing, the restart threshold it returns backs off from the current
// one, never below it. Twice a small log was returned instead, so after a
// collector's pass beside a long reader every checkpoint restarted (each
// stalling the writes for restartWait) until the threshold had doubled
// its way back up.
func TestCheckpoint_TruncationBackOffKeepsThreshold(t *testing.T) {
	ctx := t.Context()
	const small = 10 // frames in the log, far below restartFrames
	run := func(_ context.Context, _ *sql.Conn, mode string) (bool, int, error) {
		return mode != "PASSIVE", small, nil // a reader on the log
	}
	s, err := newStore(ctx, filepath.Join(t.TempDir(), "backoff.db"), Options{}, checkpointing{restartFrames: restartFrames, run: run})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	s.stop() // the test runs the checkpoints
	s.bg.Wait()
	for _, at := range []int{restartFrames, 4 * restartFrames} {
		s.erased.Store(true)
		s.eraseSkip.Store(0) // not backing off from the last round
		next, err := s.checkpoint(ctx, nil, at)
		if err != nil || next < at {
			t.Errorf("checkpoint(restart at %d) with a truncation kept busy at %d frames = %d, %v; want at least %d, nil", at, small, next, err, at)
		}
		if !s.erased.Load() {
			t.Errorf("erased = false after a truncation that did not finish; want true")
		}
	}
}

// TestCheckpoint_TruncationBacksOff: while a reader outlasts every
// truncation (a VACUUM INTO backup holds its snapshot for the whole
// copy), the checkpoints after a deletion do not each take the write slot
// and wait restartWait for it: after one gives up, the next tries are
// skipped, more of them each time (a restart backs off the same way, by
// the log's size). Before, every checkpoint, up to ten a second, stalled
// the writes for restartWait, half of the time, for as long as the
// reader lasted. Counted in checkpoints, not time.
func TestCheckpoint_TruncationBacksOff(t *testing.T) {
	ctx := t.Context()
	var truncating bool
	run := func(_ context.Context, _ *sql.Conn, mode string) (bool, int, error) {
		if mode == "TRUNCATE" {
			truncating = true
			return true, 10, nil // a reader on the log
		}
		return false, 10, nil
	}
	s, err := newStore(ctx, filepath.Join(t.TempDir(), "backoff.db"), Options{}, checkpointing{restartFrames: restartFrames, run: run})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	s.stop() // the test runs the checkpoints
	s.bg.Wait()
	s.erased.Store(true)
	const checkpoints = 40
	var tried []int
	for i := range checkpoints {
		truncating = false
		if _, err := s.checkpoint(ctx, nil, restartFrames); err != nil {
			t.Fatal(err)
		}
		if truncating {
			tried = append(tried, i)
		}
	}
	// 1, 2, 4, 8, 16 skipped after each try: tries 0, 2, 5, 10, 19, 36.
	if len(tried) > 7 || len(tried) < 2 || tried[0] != 0 {
		t.Errorf("of %d checkpoints with a truncation pending and a reader on the log, %d took the write slot (%v); want the first and a few backing off", checkpoints, len(tried), tried)
	}
	if !s.erased.Load() {
		t.Errorf("erased = false after truncations that did not finish; want true")
	}
}
