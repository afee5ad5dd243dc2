package sessiond_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/internal/testenv"
	"github.com/sessiond/sessiond/memstore"
	"github.com/sessiond/sessiond/pgstore"
	"github.com/sessiond/sessiond/redisstore"
	"github.com/sessiond/sessiond/sessiondtest"
	"github.com/sessiond/sessiond/sqlitestore"
)

// nodeStore is the store of one node, with the event log a test reads the
// recorded events back from.
type nodeStore interface {
	sessiond.Store
	sessiond.EventLog
}

// managerStore is a backend for Manager tests that depend on what the
// store does under concurrency. nodes opens n connections to the same
// fresh data, one per node of a deployment (memory and SQLite hand out
// their one store n times, as a deployment of either shares one); the
// data is dropped when t ends.
type managerStore struct {
	name  string
	nodes func(t *testing.T, n int) []nodeStore
}

// managerStores returns memory and SQLite, and PostgreSQL and Redis from
// SESSIOND_TEST_POSTGRES_URL and SESSIOND_TEST_REDIS_URL (their tests skip
// without them, and fail under SESSIOND_TEST_REQUIRE=1).
func managerStores() []managerStore {
	return []managerStore{
		{"memory", func(_ *testing.T, n int) []nodeStore { return repeat(memstore.New(), n) }},
		{"sqlite", func(t *testing.T, n int) []nodeStore {
			st, err := sqlitestore.New(context.Background(), filepath.Join(t.TempDir(), "sessiond.db"), sqlitestore.Options{})
			return repeat(opened(t, "sqlite", st, err), n)
		}},
		{"postgres", func(t *testing.T, n int) []nodeStore {
			dsn := sessiondtest.RequireEnv(t, "SESSIOND_TEST_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/test?sslmode=disable")
			schema := testenv.PostgresSchema(t, dsn, "sessiond_mgr_")
			out := make([]nodeStore, n)
			for i := range out {
				st, err := pgstore.New(context.Background(), dsn, pgstore.Options{Schema: schema})
				out[i] = opened(t, "postgres", st, err)
			}
			return out
		}},
		{"redis", func(t *testing.T, n int) []nodeStore {
			url := sessiondtest.RequireEnv(t, "SESSIOND_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
			prefix := testenv.UniqueName("sdmgr-")
			t.Cleanup(func() { testenv.DeleteRedisPrefix(t, url, prefix) })
			out := make([]nodeStore, n)
			for i := range out {
				st, err := redisstore.New(context.Background(), url, redisstore.Options{Prefix: prefix})
				out[i] = opened(t, "redis", st, err)
			}
			return out
		}},
	}
}

func repeat(s nodeStore, n int) []nodeStore {
	out := make([]nodeStore, n)
	for i := range out {
		out[i] = s
	}
	return out
}

// opened fails t on a store constructor's error and closes the store when
// t ends (before the cleanups registered earlier: dropping its data).
func opened[S interface {
	nodeStore
	Close() error
}](t *testing.T, what string, s S, err error) nodeStore {
	t.Helper()
	if err != nil {
		t.Fatalf("open %s: %v", what, err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}
