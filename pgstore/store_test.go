package pgstore_test

import (
	"context"
	"errors"
	"runtime"
	"strings"
	"testing"

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
