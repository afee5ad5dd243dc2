package pgstore_test

import (
	"testing"
	"time"

	"github.com/sessiond/sessiond/pgstore"
)

// TestIncr_SweepSparesNewWindow: a sweep that chose a row while its
// window had ended, then waited for the Incr that started the row's next
// window, leaves that new window alone. Deleting it would forget the
// count just made, and the key's next Incr would start a second window at
// 1 for the same instant.
func TestIncr_SweepSparesNewWindow(t *testing.T) {
	ctx := hangGuard(t)
	st, schema := newStore(t, pgstore.Options{})
	w := time.Minute
	end := t0.Add(w)
	if _, _, err := st.Incr(ctx, "k", t0, w); err != nil {
		t.Fatal(err)
	}

	// Another node's Incr at the end starts the next window and has not
	// committed yet.
	tx := otherTx(t, testDSN(t))
	var n int64
	if err := tx.QueryRow(ctx, pgstore.IncrStatement(st), "k", end, end.Add(w)).Scan(&n, new(time.Time)); err != nil || n != 1 {
		t.Fatalf("the other node's Incr = %d, %v; want 1", n, err)
	}
	swept := make(chan error, 1)
	go func() { swept <- pgstore.SweepCounters(ctx, st, end) }()
	for queryInt(t, testDSN(t), `SELECT count(*) FROM pg_stat_activity
		WHERE wait_event_type = 'Lock' AND query LIKE 'DELETE FROM ' || $1 || '%'`, `"`+schema+`".counters`) == 0 {
		select {
		case err := <-swept:
			t.Fatalf("the sweep ended (%v) before the other node committed; want it to wait for the row", err)
		case <-time.After(5 * time.Millisecond): // poll until the sweep waits on the row's lock
		}
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-swept; err != nil {
		t.Fatalf("sweep = %v; want nil", err)
	}
	got, reset, err := st.Incr(ctx, "k", end, w)
	if err != nil || got != 2 || !reset.Equal(end.Add(w)) {
		t.Fatalf("Incr(k) after the sweep = %d, %v, %v; want 2, %v (the window the other node started)", got, reset, err, end.Add(w))
	}
}
