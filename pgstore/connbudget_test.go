package pgstore_test

import (
	"context"
	"net/url"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/sessiond/sessiond/internal/testenv"
	"github.com/sessiond/sessiond/pgstore"
)

func TestConnBudget_Room(t *testing.T) {
	base := pgstore.ConnBudget{MaxConnections: 100, Reserved: 3, Others: 10, Pool: 16, RoleLimit: -1, DatabaseLimit: -1}
	for _, c := range []struct {
		name string
		edit func(*pgstore.ConnBudget)
		want int
	}{
		{"server only", func(*pgstore.ConnBudget) {}, 87},
		{"server full", func(b *pgstore.ConnBudget) { b.Others = 97 }, 0},
		{"server over", func(b *pgstore.ConnBudget) { b.MaxConnections, b.Reserved, b.Others = 20, 5, 30 }, -15},
		{"role limit tighter", func(b *pgstore.ConnBudget) { b.RoleLimit, b.RoleOthers = 20, 6 }, 14},
		{"role limit looser", func(b *pgstore.ConnBudget) { b.RoleLimit, b.RoleOthers = 500, 6 }, 87},
		{"database limit tighter", func(b *pgstore.ConnBudget) { b.DatabaseLimit, b.DatabaseOthers = 12, 2 }, 10},
		{"both, database tightest", func(b *pgstore.ConnBudget) {
			b.RoleLimit, b.RoleOthers, b.DatabaseLimit, b.DatabaseOthers = 20, 6, 12, 5
		}, 7},
		{"role limit zero", func(b *pgstore.ConnBudget) { b.RoleLimit = 0 }, 0},
	} {
		b := base
		c.edit(&b)
		if got := b.Room(); got != c.want {
			t.Errorf("%s: %+v.Room() = %d; want %d", c.name, b, got, c.want)
		}
	}
}

// TestStore_ConnectionBudget: the budget reports the server's settings,
// the store's pool bound and the limits of its role, counting none of the
// store's own connections: a superuser has no role limit; a role with
// CONNECTION LIMIT 7 and a pool of 10 has room for 7 at most.
func TestStore_ConnectionBudget(t *testing.T) {
	dsn := testDSN(t)
	maxConns := queryInt(t, dsn, "SELECT current_setting('max_connections')::int")
	reserved := queryInt(t, dsn, "SELECT current_setting('superuser_reserved_connections')::int + coalesce(current_setting('reserved_connections', true)::int, 0)")
	check := func(t *testing.T, st *pgstore.Store, pool, roleLimit int) pgstore.ConnBudget {
		t.Helper()
		b, err := st.ConnectionBudget(t.Context())
		if err != nil {
			t.Fatalf("ConnectionBudget() = %v; want nil", err)
		}
		if b.MaxConnections != maxConns || b.Reserved != reserved || b.Pool != pool || b.RoleLimit != roleLimit ||
			b.Others < 0 || b.Others >= maxConns || b.DatabaseOthers < 0 || b.DatabaseOthers > b.Others {
			t.Errorf("ConnectionBudget() = %+v; want max_connections %d, reserved %d, pool %d, role limit %d, counts in range",
				b, maxConns, reserved, pool, roleLimit)
		}
		return b
	}
	for _, pool := range []int32{1, 12} {
		st, _ := newStore(t, pgstore.Options{MaxConns: pool})
		check(t, st, int(pool), -1) // the test server's role is a superuser
		st.Close()
		if _, err := st.ConnectionBudget(t.Context()); err == nil {
			t.Error("ConnectionBudget() after Close = nil error; want an error")
		}
	}

	// A login role of its own, held to 7 connections, reading a schema a
	// superuser migrated (NoMigrate: it may not create anything).
	_, schema := newStore(t, pgstore.Options{})
	role := testenv.UniqueName("sd_budget_")
	ident := pgx.Identifier{role}.Sanitize()
	if err := exec(t.Context(), dsn, "CREATE ROLE "+ident+" LOGIN CONNECTION LIMIT 7; GRANT USAGE ON SCHEMA "+
		pgx.Identifier{schema}.Sanitize()+" TO "+ident+"; GRANT SELECT ON "+pgx.Identifier{schema, "schema_migrations"}.Sanitize()+" TO "+ident); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = exec(context.Background(), dsn, "DROP OWNED BY "+ident+"; DROP ROLE "+ident)
	})
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	u.User = url.User(role)
	st, err := pgstore.New(t.Context(), u.String(), pgstore.Options{Schema: schema, MaxConns: 10, NoMigrate: true, MustExist: true})
	if err != nil {
		t.Fatalf("pgstore.New() as %s = %v; want nil", role, err)
	}
	defer st.Close()
	b := check(t, st, 10, 7)
	if b.RoleOthers != 0 || b.Room() > 7 {
		t.Errorf("ConnectionBudget() as a role of its own = %+v, room %d; want no other connection of the role and room at most 7", b, b.Room())
	}
}
