package pgstore_test

import (
	"testing"

	"github.com/sessiond/sessiond/pgstore"
)

func TestConnBudget_Room(t *testing.T) {
	for _, c := range []struct {
		b    pgstore.ConnBudget
		want int
	}{
		{pgstore.ConnBudget{MaxConnections: 100, Reserved: 3, Others: 10, Pool: 16}, 87},
		{pgstore.ConnBudget{MaxConnections: 100, Reserved: 3, Others: 97, Pool: 16}, 0},
		{pgstore.ConnBudget{MaxConnections: 20, Reserved: 5, Others: 30, Pool: 16}, -15},
	} {
		if got := c.b.Room(); got != c.want {
			t.Errorf("%+v.Room() = %d; want %d", c.b, got, c.want)
		}
	}
}

// TestStore_ConnectionBudget: the budget reports the server's settings and
// the store's pool bound. (How many connections other clients hold moves
// with whatever else uses the test server; only its range is checked.)
func TestStore_ConnectionBudget(t *testing.T) {
	dsn := testDSN(t)
	for _, pool := range []int32{1, 12, 500} {
		st, _ := newStore(t, pgstore.Options{MaxConns: pool})
		b, err := st.ConnectionBudget(t.Context())
		if err != nil {
			t.Fatalf("ConnectionBudget() = %v; want nil", err)
		}
		maxConns := queryInt(t, dsn, "SELECT current_setting('max_connections')::int")
		reserved := queryInt(t, dsn, "SELECT current_setting('superuser_reserved_connections')::int + coalesce(current_setting('reserved_connections', true)::int, 0)")
		if b.MaxConnections != maxConns || b.Reserved != reserved || b.Pool != int(pool) || b.Others < 0 || b.Others >= maxConns {
			t.Errorf("ConnectionBudget() = %+v; want max_connections %d, reserved %d, pool %d, others from 0 to %d",
				b, maxConns, reserved, pool, maxConns-1)
		}
		st.Close()
		if _, err := st.ConnectionBudget(t.Context()); err == nil {
			t.Error("ConnectionBudget() after Close = nil error; want an error")
		}
	}
}
