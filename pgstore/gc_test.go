package pgstore_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/pgstore"
)

// gcAt reads the gc_at of session id.
func gcAt(t *testing.T, dsn, schema string, id sessiond.SessionID) time.Time {
	t.Helper()
	conn, err := pgx.Connect(t.Context(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	var at time.Time
	if err := conn.QueryRow(t.Context(), "SELECT gc_at FROM "+pgx.Identifier{schema, "sessions"}.Sanitize()+
		" WHERE id = $1", string(id)).Scan(&at); err != nil {
		t.Fatalf("gc_at of %s: %v", id, err)
	}
	return at.UTC()
}

// insertAsOldNode stores s as a node of a version before migration 0008
// does: every column but gc_at.
func insertAsOldNode(t *testing.T, dsn, schema string, s *sessiond.Session) {
	t.Helper()
	var revokedAt *time.Time
	if !s.RevokedAt.IsZero() {
		revokedAt = &s.RevokedAt
	}
	if err := exec(t.Context(), dsn, "INSERT INTO "+pgx.Identifier{schema, "sessions"}.Sanitize()+` (id, subject, strategy,
		created_at, last_active_at, idle_expires_at, expires_at, persistent, client_ip, client_ua, claims, revoked_at, revoke_reason)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)`,
		string(s.ID), s.Subject, string(s.Strategy), s.CreatedAt, s.LastActiveAt, s.IdleExpiresAt, s.ExpiresAt,
		s.Persistent, s.Client.IP, s.Client.UserAgent, s.Claims, revokedAt, string(s.RevokeReason)); err != nil {
		t.Fatal(err)
	}
}

// TestStore_DeleteExpiredGCAt: gc_at does not move when a session is
// refreshed, so the collector must look at the expiry itself before it
// deletes. A touch with an earlier idle expiry (from a node whose clock is
// behind) moves neither the session's nor gc_at. Each case stores one session (idle expiry at t0+30m, absolute
// at t0+8h), changes it, collects at `at` and checks what is left.
func TestStore_DeleteExpiredGCAt(t *testing.T) {
	dsn := testDSN(t)
	t.Parallel()
	idle, abs := t0.Add(30*time.Minute), t0.Add(8*time.Hour)
	for _, tc := range []struct {
		name    string
		change  func(t *testing.T, st *pgstore.Store, schema string, s *sessiond.Session, refresh sessiond.Token)
		old     bool // stored by a node before migration 0008
		at      time.Time
		deleted bool
		gcAt    time.Time // after the collection, when kept
	}{
		{name: "IdlePassed", at: idle.Add(time.Second), deleted: true},
		{name: "NotDue", at: idle, gcAt: idle},
		{name: "TouchedAfterGCAt", change: touch(t0.Add(time.Hour)), at: idle.Add(time.Second), gcAt: t0.Add(time.Hour)},
		{name: "RefreshedAfterGCAt", change: swap(t0.Add(time.Hour)), at: idle.Add(time.Second), gcAt: t0.Add(time.Hour)},
		{name: "TouchedThenIdle", change: touch(t0.Add(time.Hour)), at: t0.Add(time.Hour + time.Second), deleted: true},
		{name: "TouchedFromBehind", change: touch(t0.Add(10 * time.Minute)), at: t0.Add(10*time.Minute + time.Second), gcAt: idle},
		{name: "TouchedFromBehindThenIdle", change: touch(t0.Add(10 * time.Minute)), at: idle.Add(time.Second), deleted: true},
		{name: "TouchedPastAbsolute", change: touch(abs.Add(time.Hour)), at: abs.Add(time.Second), deleted: true},
		{name: "RevokedTouched", change: revokeThenTouch(t0.Add(time.Hour)), at: idle.Add(time.Second), deleted: true},
		{name: "OldNodeLive", old: true, at: t0.Add(time.Minute), gcAt: idle},
		{name: "OldNodeExpired", old: true, at: idle.Add(time.Second), deleted: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			st, schema := newStore(t, pgstore.Options{})
			ctx := t.Context()
			s := newSession("alice", t0)
			s.LastActiveAt, s.IdleExpiresAt, s.ExpiresAt = t0, idle, abs
			refresh := newToken(sessiond.KindRefresh, s.ID, t0)
			if tc.old {
				insertAsOldNode(t, dsn, schema, s)
				if n := queryInt(t, dsn, "SELECT count(*) FROM "+pgx.Identifier{schema, "sessions"}.Sanitize()+
					" WHERE gc_at = '-infinity'"); n != 1 {
					t.Fatalf("%d sessions with gc_at -infinity after an old node stored one; want 1", n)
				}
			} else if err := st.Create(ctx, s, refresh); err != nil {
				t.Fatal(err)
			}
			if tc.change != nil {
				tc.change(t, st, schema, s, refresh)
			}
			n, err := st.DeleteExpired(ctx, tc.at, 10)
			want := 0
			if tc.deleted {
				want = 1
			}
			if err != nil || n != want {
				t.Fatalf("DeleteExpired(%v) = %d, %v; want %d, nil", tc.at, n, err, want)
			}
			_, err = st.Get(ctx, s.ID)
			if tc.deleted {
				if !errors.Is(err, sessiond.ErrNotFound) {
					t.Errorf("Get() after collection = %v; want ErrNotFound", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Get() after collection = %v; want the session kept", err)
			}
			if got := gcAt(t, dsn, schema, s.ID); !got.Equal(tc.gcAt) {
				t.Errorf("gc_at after collection at %v = %v; want %v", tc.at, got, tc.gcAt)
			}
		})
	}
}

func touch(idle time.Time) func(*testing.T, *pgstore.Store, string, *sessiond.Session, sessiond.Token) {
	return func(t *testing.T, st *pgstore.Store, _ string, s *sessiond.Session, _ sessiond.Token) {
		if err := st.Touch(t.Context(), s.ID, idle.Add(-30*time.Minute), idle); err != nil {
			t.Fatal(err)
		}
	}
}

func swap(idle time.Time) func(*testing.T, *pgstore.Store, string, *sessiond.Session, sessiond.Token) {
	return func(t *testing.T, st *pgstore.Store, _ string, s *sessiond.Session, old sessiond.Token) {
		now := idle.Add(-30 * time.Minute)
		if err := st.SwapRefresh(t.Context(), sessiond.RefreshSwap{
			Old: old.Hash, Next: newToken(sessiond.KindRefresh, s.ID, now), Now: now, GraceSince: now,
			LastActiveAt: now, IdleExpiresAt: idle,
		}); err != nil {
			t.Fatal(err)
		}
	}
}

// revokeThenTouch revokes the session, then touches it: a revoked
// session keeps its expiries, and is collected when they pass.
func revokeThenTouch(idle time.Time) func(*testing.T, *pgstore.Store, string, *sessiond.Session, sessiond.Token) {
	return func(t *testing.T, st *pgstore.Store, schema string, s *sessiond.Session, old sessiond.Token) {
		if _, err := st.Revoke(t.Context(), s.ID, t0.Add(time.Minute), sessiond.ReasonLogout); err != nil {
			t.Fatal(err)
		}
		// The touch of a revoked session is refused and changes nothing.
		if err := st.Touch(t.Context(), s.ID, idle.Add(-30*time.Minute), idle); !errors.Is(err, sessiond.ErrRevoked) {
			t.Fatalf("Touch(revoked) = %v; want ErrRevoked", err)
		}
	}
}

// TestStore_DeleteExpiredRounds: a round that finds only live sessions
// (stored by old nodes, due at once) does not end the call; it goes on
// until it has deleted limit, and no further.
func TestStore_DeleteExpiredRounds(t *testing.T) {
	dsn := testDSN(t)
	t.Parallel()
	st, schema := newStore(t, pgstore.Options{})
	ctx := t.Context()
	at := t0.Add(time.Hour)
	var live, expired []*sessiond.Session
	for range 5 {
		s := newSession("alice", at.Add(-time.Minute))
		insertAsOldNode(t, dsn, schema, s)
		live = append(live, s)
	}
	for range 3 {
		s := newSession("bob", t0) // idle expiry t0+30m
		if err := st.Create(ctx, s); err != nil {
			t.Fatal(err)
		}
		expired = append(expired, s)
	}
	// The old nodes' rows (-infinity) come first: two rounds of two find
	// only live sessions.
	if n, err := st.DeleteExpired(ctx, at, 2); err != nil || n != 2 {
		t.Fatalf("DeleteExpired(limit 2) = %d, %v; want 2, nil", n, err)
	}
	if n, err := st.DeleteExpired(ctx, at, 2); err != nil || n != 1 {
		t.Fatalf("second DeleteExpired(limit 2) = %d, %v; want 1, nil", n, err)
	}
	for _, s := range expired {
		if _, err := st.Get(ctx, s.ID); !errors.Is(err, sessiond.ErrNotFound) {
			t.Errorf("Get(expired %s) = %v; want ErrNotFound", s.ID, err)
		}
	}
	for _, s := range live {
		if _, err := st.Get(ctx, s.ID); err != nil {
			t.Errorf("Get(live %s) = %v; want it kept", s.ID, err)
		}
		if got := gcAt(t, dsn, schema, s.ID); !got.Equal(s.IdleExpiresAt) {
			t.Errorf("gc_at of live %s = %v; want its idle expiry %v", s.ID, got, s.IdleExpiresAt)
		}
	}
}

// TestStore_RefreshIsHOT runs Touch's and SwapRefresh's statements in one
// transaction and asks PostgreSQL how many of that transaction's updates
// of sessions were heap-only: all of them, since neither writes an
// indexed column (migration 0008) and a fresh page has room (fillfactor
// 50).
func TestStore_RefreshIsHOT(t *testing.T) {
	dsn := testDSN(t)
	t.Parallel()
	st, schema := newStore(t, pgstore.Options{})
	ctx := t.Context()
	s := newSession("alice", t0)
	old := newToken(sessiond.KindRefresh, s.ID, t0)
	if err := st.Create(ctx, s, old); err != nil {
		t.Fatal(err)
	}
	touchSQL, swapSQL := pgstore.RefreshStatements(st)
	tx := otherTx(t, dsn)
	now := t0.Add(time.Minute)
	if _, err := tx.Exec(ctx, touchSQL, string(s.ID), now, now.Add(30*time.Minute)); err != nil {
		t.Fatalf("touch: %v", err)
	}
	next := newToken(sessiond.KindRefresh, s.ID, now)
	var (
		kind             int16
		sid              string
		revoked, swapped bool
	)
	if err := tx.QueryRow(ctx, swapSQL, old.Hash[:], next.Hash[:], string(s.ID), next.IssuedAt, next.ExpiresAt,
		now, now, now, now.Add(31*time.Minute)).Scan(&kind, &sid, &revoked, &swapped); err != nil || !swapped {
		t.Fatalf("swap = %v, %v; want swapped", swapped, err)
	}
	var updated, hot int
	if err := tx.QueryRow(ctx, `SELECT pg_stat_get_xact_tuples_updated(c), pg_stat_get_xact_tuples_hot_updated(c)
		FROM (SELECT $1::regclass::oid AS c) r`, pgx.Identifier{schema, "sessions"}.Sanitize()).Scan(&updated, &hot); err != nil {
		t.Fatal(err)
	}
	if updated != 2 || hot != 2 {
		t.Errorf("touch and refresh: %d updates of sessions, %d heap-only; want 2, 2", updated, hot)
	}
}

// TestStore_DeleteExpiredRacesTouch touches sessions past their idle
// expiry while collectors delete expired ones. A session may be collected
// before its touch (the touch then finds it gone), but never after a
// touch that succeeded: whatever the interleaving, including a touch that
// commits after a collector's snapshot and before its lock.
func TestStore_DeleteExpiredRacesTouch(t *testing.T) {
	testDSN(t)
	t.Parallel()
	st, _ := newStore(t, pgstore.Options{})
	ctx := t.Context()
	const n = 300
	ids := make([]sessiond.SessionID, n)
	for i := range ids {
		s := newSession("alice", t0) // idle expiry t0+30m
		if err := st.Create(ctx, s); err != nil {
			t.Fatal(err)
		}
		ids[i] = s.ID
	}
	at := t0.Add(time.Hour) // past the idle expiry, before the touched one
	touched := make([]bool, n)
	done := make(chan struct{})
	var wg sync.WaitGroup
	// Four touchers from the last session back, the collectors (in
	// storage order) from the first: they meet somewhere in the middle.
	var touchers sync.WaitGroup
	for w := range 4 {
		touchers.Go(func() {
			for i := n - 1 - w; i >= 0; i -= 4 {
				err := st.Touch(ctx, ids[i], at, at.Add(30*time.Minute))
				switch {
				case err == nil:
					touched[i] = true
				case !errors.Is(err, sessiond.ErrNotFound):
					t.Errorf("Touch(%s) = %v; want nil or ErrNotFound", ids[i], err)
				}
			}
		})
	}
	wg.Go(func() {
		touchers.Wait()
		close(done)
	})
	for range 2 {
		wg.Go(func() {
			for {
				select {
				case <-done:
					return
				default:
				}
				if _, err := st.DeleteExpired(ctx, at, 3); err != nil {
					t.Errorf("DeleteExpired() = %v", err)
					return
				}
			}
		})
	}
	wg.Wait()
	kept := 0
	for i, id := range ids {
		if !touched[i] {
			continue
		}
		kept++
		if _, err := st.Get(ctx, id); err != nil {
			t.Errorf("Get(%s), touched to stay live until %v, after collections at %v = %v; want it kept", id, at.Add(30*time.Minute), at, err)
		}
	}
	t.Logf("%d of %d sessions touched before a collector took them", kept, n)
}
