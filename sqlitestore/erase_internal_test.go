package sqlitestore

import (
	"bytes"
	"context"
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
// checkpoint after a deletion runs makes its truncation give up; the next
// checkpoint, once the reader has gone, truncates the log, even though
// nothing was deleted in between.
func TestStore_DeletedTruncationRetried(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "retry.db")
	s, err := newStore(ctx, path, Options{}, checkpointing{every: time.Hour, restartFrames: restartFrames})
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
