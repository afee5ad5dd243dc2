package pgstore_test

import (
	"context"
	"errors"
	"runtime"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/pgstore"
	"github.com/sessiond/sessiond/sessiondtest"
)

func conformingStore(t *testing.T) sessiond.Store {
	st, _ := newStore(t, pgstore.Options{})
	return st
}

func TestStore(t *testing.T) {
	testDSN(t) // skip once, not in every subtest
	sessiondtest.TestStore(t, conformingStore)
}

// TestRevocationNotifier runs the feed suite across two nodes (two stores
// on one schema).
func TestRevocationNotifier(t *testing.T) {
	testDSN(t)
	sessiondtest.TestRevocationNotifier(t, conformingStore, func(t *testing.T, st sessiond.Store) sessiond.Store {
		node, _ := newStore(t, pgstore.Options{Schema: pgstore.SchemaOf(st.(*pgstore.Store))})
		return node
	})
}

// TestNew_WriteGroups: the group commits in flight follow Options, are
// never more than half the pool, and default to one per two CPUs (1-4);
// the grouped reads in flight follow them, up to two and a quarter of the
// pool.
func TestNew_WriteGroups(t *testing.T) {
	dsn := testDSN(t)
	def := min(4, max(1, runtime.GOMAXPROCS(0)/2))
	for _, tc := range []struct {
		name          string
		opts          pgstore.Options
		writes, reads int
	}{
		{"Default", pgstore.Options{MaxConns: 16}, def, min(2, def)},
		{"One", pgstore.Options{MaxConns: 16, WriteGroups: 1}, 1, 1},
		{"More than the default", pgstore.Options{MaxConns: 16, WriteGroups: 8}, 8, 2},
		{"Half the pool at most", pgstore.Options{MaxConns: 4, WriteGroups: 8}, 2, 1},
		{"A pool of one", pgstore.Options{MaxConns: 1, WriteGroups: 3}, 1, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st, _ := newStoreOpts(t, dsn, tc.opts)
			if got := pgstore.WriteGroupsOf(st); got != tc.writes {
				t.Errorf("write groups = %d; want %d", got, tc.writes)
			}
			if got := pgstore.ReadGroupsOf(st); got != tc.reads {
				t.Errorf("read groups = %d; want %d", got, tc.reads)
			}
		})
	}
	t.Run("Negative", func(t *testing.T) {
		st, err := pgstore.New(context.Background(), dsn, pgstore.Options{Schema: testSchema(t, dsn), WriteGroups: -1})
		if err == nil {
			st.Close()
		}
		var ae *sessiond.ArgumentError
		if !errors.As(err, &ae) || ae.Field != "write_groups" {
			t.Fatalf("New(WriteGroups: -1) = %v; want an ArgumentError on write_groups", err)
		}
	})
}

func TestNew_PoolSize(t *testing.T) {
	dsn := testDSN(t)
	sep := "?"
	if strings.Contains(dsn, "?") {
		sep = "&"
	}
	for _, tc := range []struct {
		name string
		dsn  string
		opts pgstore.Options
		want int32
	}{
		{"Default", dsn, pgstore.Options{}, int32(max(16, 4*runtime.NumCPU()))},
		{"DSN", dsn + sep + "pool_max_conns=3", pgstore.Options{}, 3},
		{"Options", dsn + sep + "pool_max_conns=3", pgstore.Options{MaxConns: 5}, 5},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st, _ := newStoreOpts(t, tc.dsn, tc.opts)
			if got := pgstore.MaxConnsOf(st); got != tc.want {
				t.Errorf("pool size = %d; want %d", got, tc.want)
			}
		})
	}
}

// TestNew_MustExist: with MustExist, New opens a schema sessiond made and
// refuses, without creating anything, one that holds no sessiond tables:
// a missing schema (a mistyped namespace) or another application's.
func TestNew_MustExist(t *testing.T) {
	ctx := context.Background()
	dsn := testDSN(t)
	schemaExists := func(name string) bool {
		return queryInt(t, dsn, "SELECT count(*) FROM pg_namespace WHERE nspname = $1", name) == 1
	}
	tableCount := func(name string) int {
		return queryInt(t, dsn, "SELECT count(*) FROM information_schema.tables WHERE table_schema = $1", name)
	}

	missing := testSchema(t, dsn)
	if st, err := pgstore.New(ctx, dsn, pgstore.Options{Schema: missing, MustExist: true}); !errors.Is(err, sessiond.ErrNotFound) {
		if err == nil {
			st.Close()
		}
		t.Errorf("New on a missing schema = %v; want ErrNotFound", err)
	}
	if schemaExists(missing) {
		t.Error("New with MustExist created the missing schema")
	}

	other := testSchema(t, dsn) // another application's schema: one table, none of ours
	if err := exec(ctx, dsn, "CREATE SCHEMA "+pgx.Identifier{other}.Sanitize()+"; CREATE TABLE "+pgx.Identifier{other, "orders"}.Sanitize()+" (id int)"); err != nil {
		t.Fatal(err)
	}
	if st, err := pgstore.New(ctx, dsn, pgstore.Options{Schema: other, MustExist: true}); !errors.Is(err, sessiond.ErrNotFound) {
		if err == nil {
			st.Close()
		}
		t.Errorf("New on another application's schema = %v; want ErrNotFound", err)
	}
	if n := tableCount(other); n != 1 {
		t.Errorf("New with MustExist left %d tables in another application's schema; want its 1", n)
	}

	_, ours := newStore(t, pgstore.Options{}) // made by a server
	st, err := pgstore.New(ctx, dsn, pgstore.Options{Schema: ours, MustExist: true})
	if err != nil {
		t.Fatalf("New with MustExist on a schema sessiond made: %v", err)
	}
	st.Close()
}
