package pgstore_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/pgstore"
)

// TestStore_SwapWaitsForRevoke: a revocation that holds the session's row
// when a swap starts, and commits while the swap waits for that row, refuses
// the swap. The swap statement must judge the session after it got the lock
// (a check before it, or on an older snapshot, would let the swap through).
func TestStore_SwapWaitsForRevoke(t *testing.T) {
	t.Parallel()
	st, schema := newStore(t, pgstore.Options{})
	ctx := t.Context()
	s := newSession("alice", t0)
	old := newToken(sessiond.KindRefresh, s.ID, t0)
	if err := st.Create(ctx, s, old); err != nil {
		t.Fatal(err)
	}
	now := t0.Add(2 * time.Minute)
	next := newToken(sessiond.KindRefresh, s.ID, now)
	err := revokeWhileWaiting(t, schema, s.ID, func() error {
		return st.SwapRefresh(ctx, sessiond.RefreshSwap{Old: old.Hash, Next: next, Now: now, GraceSince: now,
			LastActiveAt: now, IdleExpiresAt: now.Add(30 * time.Minute)})
	})
	if !errors.Is(err, sessiond.ErrRevoked) {
		t.Errorf("SwapRefresh after a revocation it waited for = %v; want ErrRevoked", err)
	}
	tok, _, err := st.Lookup(ctx, old.Hash)
	if err != nil || !tok.RetiredAt.IsZero() {
		t.Errorf("Lookup(old) = retired at %v, %v; want current", tok.RetiredAt, err)
	}
	if _, _, err := st.Lookup(ctx, next.Hash); !errors.Is(err, sessiond.ErrNotFound) {
		t.Errorf("Lookup(next) = %v; want ErrNotFound", err)
	}
}

// TestStore_TouchRecordedWaitsForRevoke: the same for a refresh that keeps
// its token, whose one statement may join a group commit: it waits for
// the revocation, refuses (ErrRevoked), and writes neither the activity
// nor the records.
func TestStore_TouchRecordedWaitsForRevoke(t *testing.T) {
	t.Parallel()
	st, schema := newStore(t, pgstore.Options{})
	ctx := t.Context()
	s := newSession("alice", t0)
	if err := st.Create(ctx, s); err != nil {
		t.Fatal(err)
	}
	now := t0.Add(2 * time.Minute)
	e := sessiond.Event{ID: sessiond.NewEventID(now), Time: now, Type: sessiond.EventSessionRefreshed, Subject: s.Subject, SessionID: s.ID}
	err := revokeWhileWaiting(t, schema, s.ID, func() error {
		return st.TouchRecorded(ctx, s.ID, now, now.Add(30*time.Minute), sessiond.ChangeRecords{Events: []sessiond.Event{e}})
	})
	if !errors.Is(err, sessiond.ErrRevoked) {
		t.Errorf("TouchRecorded after a revocation it waited for = %v; want ErrRevoked", err)
	}
	got, err := st.Get(ctx, s.ID)
	if err != nil || !got.LastActiveAt.Equal(s.LastActiveAt) {
		t.Errorf("Get = last active %v, %v; want %v (not touched)", got.LastActiveAt, err, s.LastActiveAt)
	}
	if events, _, err := st.QueryEvents(ctx, sessiond.EventQuery{SessionID: s.ID}); err != nil || len(events) != 0 {
		t.Errorf("QueryEvents = %d events, %v; want none", len(events), err)
	}
}

// revokeWhileWaiting revokes session id in a transaction of its own, runs
// write while that transaction holds the session's row, commits once write
// waits for it, and returns write's error.
func revokeWhileWaiting(t *testing.T, schema string, id sessiond.SessionID, write func() error) error {
	t.Helper()
	dsn := testDSN(t)
	ctx := t.Context()
	revoker := connect(t, dsn)
	var pid uint32
	if err := revoker.QueryRow(ctx, `SELECT pg_backend_pid()`).Scan(&pid); err != nil {
		t.Fatal(err)
	}
	tx, err := revoker.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(context.Background())
	if _, err := tx.Exec(ctx, `UPDATE `+pgx.Identifier{schema, "sessions"}.Sanitize()+`
		SET revoked_at = $2, revoke_reason = 'admin' WHERE id = $1`, string(id), t0.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- write() }()
	// Commit only once the write waits for the revoker's row lock.
	watcher := connect(t, dsn)
	for blocked := false; !blocked; {
		if err := watcher.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_stat_activity WHERE $1 = ANY (pg_blocking_pids(pid)))`,
			pid).Scan(&blocked); err != nil {
			t.Fatal(err)
		}
		select {
		case err := <-done:
			t.Fatalf("the write returned %v while the revocation held the session's row; want it to wait", err)
		case <-time.After(time.Millisecond):
		}
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	return <-done
}
