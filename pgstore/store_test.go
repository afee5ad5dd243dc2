package pgstore_test

import (
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
