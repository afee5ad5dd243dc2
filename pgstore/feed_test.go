package pgstore_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/pgstore"
)

// feed collects what a subscription delivers.
type feed struct {
	revs   chan sessiond.Revocation
	resync chan struct{}
}

func subscribe(t *testing.T, ctx context.Context, st *pgstore.Store) *feed {
	t.Helper()
	f := &feed{revs: make(chan sessiond.Revocation, 100), resync: make(chan struct{}, 100)}
	err := st.SubscribeRevocations(ctx,
		func(r sessiond.Revocation) { f.revs <- r },
		func() { f.resync <- struct{}{} })
	if err != nil {
		t.Fatalf("SubscribeRevocations() = %v; want nil", err)
	}
	return f
}

// expect waits up to a second for the next revocation and checks it is want.
func (f *feed) expect(t *testing.T, want sessiond.Revocation) {
	t.Helper()
	select {
	case got := <-f.revs:
		if got.SessionID != want.SessionID || got.Subject != want.Subject || got.Reason != want.Reason ||
			!got.RevokedAt.Equal(want.RevokedAt) || !got.ExpiresAt.Equal(want.ExpiresAt) ||
			got.RevokedAt.Location() != time.UTC || got.ExpiresAt.Location() != time.UTC {
			t.Errorf("notification = %+v; want %+v (UTC)", got, want)
		}
	case <-time.After(time.Second):
		t.Fatalf("no notification of revoking %s within a second", want.SessionID)
	}
}

// revoke creates a session through st and revokes it, returning what a
// listener should hear.
func revoke(t *testing.T, st *pgstore.Store, subject string) sessiond.Revocation {
	t.Helper()
	s := newSession(subject, t0)
	if err := st.Create(t.Context(), s); err != nil {
		t.Fatalf("Create() = %v; want nil", err)
	}
	at := t0.Add(time.Minute)
	if _, err := st.Revoke(t.Context(), s.ID, at, sessiond.ReasonLogout); err != nil {
		t.Fatalf("Revoke() = %v; want nil", err)
	}
	return sessiond.Revocation{SessionID: s.ID, Subject: subject, RevokedAt: at, ExpiresAt: s.ExpiresAt, Reason: sessiond.ReasonLogout}
}

// listeners counts the schema's listener connections in pg_stat_activity.
func listeners(t *testing.T, dsn, schema string) int {
	t.Helper()
	return queryInt(t, dsn, "SELECT count(*) FROM pg_stat_activity WHERE application_name = $1", "sessiond-listener "+schema)
}

// waitListeners polls until the schema has want listener connections.
func waitListeners(t *testing.T, dsn, schema string, want int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		got := listeners(t, dsn, schema)
		if got == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d listener connections for schema %s; want %d", got, schema, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestStore_SubscribeRevocations covers what the shared feed suite
// (TestRevocationNotifier) cannot: the listener's own connection.
func TestStore_SubscribeRevocations(t *testing.T) {
	testDSN(t) // skip once, not in every subtest
	t.Parallel()
	t.Run("AcrossNodesAndReconnect", func(t *testing.T) {
		t.Parallel()
		dsn := testDSN(t)
		nodeA, schema := newStore(t, pgstore.Options{})
		nodeB, _ := newStore(t, pgstore.Options{Schema: schema})
		f := subscribe(t, t.Context(), nodeB)

		// Timed from the Revoke call on A to the delivery on B.
		s := newSession("alice", t0)
		if err := nodeA.Create(t.Context(), s); err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		if _, err := nodeA.Revoke(t.Context(), s.ID, t0.Add(time.Minute), sessiond.ReasonAdmin); err != nil {
			t.Fatalf("Revoke() = %v; want nil", err)
		}
		f.expect(t, sessiond.Revocation{SessionID: s.ID, Subject: "alice", RevokedAt: t0.Add(time.Minute), ExpiresAt: s.ExpiresAt, Reason: sessiond.ReasonAdmin})
		t.Logf("revoke on node A to delivery on node B: %v", time.Since(start))

		// Kill the listener's backend, as a failover or an admin would.
		killed := queryInt(t, dsn, `SELECT count(*) FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity
			WHERE application_name = $1) AS k`, "sessiond-listener "+schema)
		if killed != 1 {
			t.Fatalf("terminated %d listener backends; want 1", killed)
		}
		select {
		case <-f.resync:
		case <-time.After(10 * time.Second):
			t.Fatal("resync not called within 10s of the listener's connection being killed")
		}
		waitListeners(t, dsn, schema, 1)

		f.expect(t, revoke(t, nodeA, "alice"))
		f.expect(t, revoke(t, nodeB, "bob")) // a node hears its own revocations too
		if len(f.resync) != 0 {
			t.Errorf("resync called %d more times; want once per reconnect", len(f.resync))
		}
	})
	t.Run("StopsWithContextAndClose", func(t *testing.T) {
		t.Parallel()
		dsn := testDSN(t)
		st, schema := newStore(t, pgstore.Options{})
		ctx, cancel := context.WithCancel(t.Context())
		subscribe(t, ctx, st)
		subscribe(t, t.Context(), st)
		waitListeners(t, dsn, schema, 2)
		cancel()
		waitListeners(t, dsn, schema, 1)
		st.Close()
		waitListeners(t, dsn, schema, 0)
		err := st.SubscribeRevocations(t.Context(), func(sessiond.Revocation) {}, nil)
		if !errors.Is(err, sessiond.ErrStoreUnavailable) {
			t.Errorf("SubscribeRevocations() after Close = %v; want ErrStoreUnavailable", err)
		}
	})
}
