package pgstore_test

import (
	"errors"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/internal/testenv"
)

// TestFinishClaimed_LockFailureIsNotALostClaim: a serialization failure or
// a lock timeout on the delivery's row says nothing about the claim, yet
// FinishClaimed answered it ErrConflict, which the webhook dispatcher reads
// as a lost claim: it dropped the outcome (logged "claim lost", counted
// nothing, returned no error) and the delivery went out again when its
// lease ran out. Now the statement is tried again and, if the row stays
// locked, the failure is ErrStoreUnavailable: a failed write.
func TestFinishClaimed_LockFailureIsNotALostClaim(t *testing.T) {
	dsn := testDSN(t)
	t.Parallel()
	tests := []struct {
		name    string
		options string // the store's DSN options
		// release ends the other transaction while FinishClaimed waits for
		// it; else it holds the row until FinishClaimed has returned.
		release bool
	}{
		// Under SERIALIZABLE (or REPEATABLE READ) an UPDATE that waited
		// for another transaction's update of the row fails with 40001;
		// the other update left the claim as it was.
		{"serialization failure", "-c default_transaction_isolation=serializable", true},
		// lock_timeout ends the wait with 55P03.
		{"lock timeout", "-c lock_timeout=100", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ctx := t.Context()
			app := testenv.UniqueName("sessiond-fence-test-")
			st, schema := newStoreDSN(t, withParam(withParam(dsn, "application_name", app), "options", tt.options))
			d := sessiond.Delivery{ID: "msg_1", Endpoint: "siem", EventID: "evt_1", Payload: []byte("{}"),
				NextAttemptAt: t0, CreatedAt: t0, UpdatedAt: t0}
			if err := st.EnqueueDeliveries(ctx, d); err != nil {
				t.Fatal(err)
			}
			claimed, err := st.ClaimDeliveries(ctx, t0, 10, time.Minute)
			if err != nil || len(claimed) != 1 {
				t.Fatalf("ClaimDeliveries = %v, %v; want msg_1", claimed, err)
			}
			c := claimed[0]

			// Another transaction updates the row without touching the
			// claim, and holds its lock.
			tx := otherTx(t, dsn)
			if _, err := tx.Exec(ctx, "UPDATE "+pgx.Identifier{schema, "deliveries"}.Sanitize()+
				" SET last_error = last_error WHERE id = $1", c.ID); err != nil {
				t.Fatal(err)
			}
			var pid int
			if err := tx.QueryRow(ctx, "SELECT pg_backend_pid()").Scan(&pid); err != nil {
				t.Fatal(err)
			}

			when := t0.Add(time.Second)
			done := make(chan error, 1)
			go func() {
				done <- st.FinishClaimed(ctx, c, sessiond.DeliveryDelivered, 1, time.Time{}, "", when)
			}()
			want := c
			if tt.release {
				untilTrue(ctx, t, dsn, `SELECT EXISTS (SELECT 1 FROM pg_stat_activity
					WHERE application_name = $2 AND $1 = ANY (pg_blocking_pids(pid)))`,
					pid, app, done, "the other transaction held the row")
				if err := tx.Commit(ctx); err != nil {
					t.Fatal(err)
				}
				if err := <-done; err != nil {
					t.Fatalf("FinishClaimed(the claim, after another update of its row) = %v; want nil", err)
				}
				want.State, want.Attempts, want.NextAttemptAt, want.UpdatedAt = sessiond.DeliveryDelivered, 1, time.Time{}, when
			} else {
				err := <-done
				if errors.Is(err, sessiond.ErrConflict) || !errors.Is(err, sessiond.ErrStoreUnavailable) {
					t.Fatalf("FinishClaimed(the claim, its row locked) = %v; want ErrStoreUnavailable, not ErrConflict (a lost claim)", err)
				}
				if err := tx.Rollback(ctx); err != nil {
					t.Fatal(err)
				}
			}
			got := deliveryByID(t, st, want.State, c.ID)
			if got.State != want.State || got.Attempts != want.Attempts || !got.NextAttemptAt.Equal(want.NextAttemptAt) || !got.UpdatedAt.Equal(want.UpdatedAt) {
				t.Errorf("delivery = %s, %d attempts, next %v, updated %v; want %s, %d, %v, %v", got.State, got.Attempts, got.NextAttemptAt, got.UpdatedAt,
					want.State, want.Attempts, want.NextAttemptAt, want.UpdatedAt)
			}
			if !tt.release {
				// The claim still holds: its outcome is written once the
				// row is free.
				if err := st.FinishClaimed(ctx, c, sessiond.DeliveryDelivered, 1, time.Time{}, "", when); err != nil {
					t.Errorf("FinishClaimed(the claim, its row free again) = %v; want nil", err)
				}
			}
		})
	}
}

// deliveryByID returns the delivery id listed in state, failing if it is
// not.
func deliveryByID(t *testing.T, o sessiond.Outbox, state sessiond.DeliveryState, id string) sessiond.Delivery {
	t.Helper()
	ds, err := o.ListDeliveries(t.Context(), state, 100)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range ds {
		if d.ID == id {
			return d
		}
	}
	t.Fatalf("ListDeliveries(%s) = %d deliveries, without %s", state, len(ds), id)
	return sessiond.Delivery{}
}
