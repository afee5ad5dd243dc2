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
// 1 for the same instant. The other node's transaction may also count on
// in the new window before it commits (several Incrs of one key in one
// batch): the sweep rechecks the row's last version.
func TestIncr_SweepSparesNewWindow(t *testing.T) {
	for _, tc := range []struct {
		name  string
		incrs int64 // Incrs of the key in the other node's transaction
	}{
		{"OneIncr", 1},
		{"Batch", 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := hangGuard(t)
			st, schema := newStore(t, pgstore.Options{})
			w := time.Minute
			end := t0.Add(w)
			if _, _, err := st.Incr(ctx, "k", t0, w); err != nil {
				t.Fatal(err)
			}

			// Another node's Incr at the end starts the next window and
			// has not committed yet.
			tx := otherTx(t, testDSN(t))
			for want := int64(1); want <= tc.incrs; want++ {
				var n int64
				if err := tx.QueryRow(ctx, pgstore.IncrStatement(st), "k", end, end.Add(w)).Scan(&n, new(time.Time)); err != nil || n != want {
					t.Fatalf("the other node's Incr = %d, %v; want %d", n, err, want)
				}
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
			if err != nil || got != tc.incrs+1 || !reset.Equal(end.Add(w)) {
				t.Fatalf("Incr(k) after the sweep = %d, %v, %v; want %d, %v (the window the other node started)", got, reset, err, tc.incrs+1, end.Add(w))
			}
		})
	}
}
