package signing_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/memstore"
	"github.com/sessiond/sessiond/pgstore"
	"github.com/sessiond/sessiond/redisstore"
	"github.com/sessiond/sessiond/sqlitestore"

	"github.com/sessiond/sessiond/internal/testenv"
)

// metaStore is a way to open one store twice ("two starts"): reopen
// returns a new connection to the same data.
type metaStore struct {
	name   string
	reopen func(t *testing.T) sessiond.MetaStore
}

type closingMetaStore interface {
	sessiond.MetaStore
	Close() error
}

// opened takes a store's constructor results, fails t on the error and
// closes the store when t ends.
func opened(t *testing.T) func(closingMetaStore, error) sessiond.MetaStore {
	return func(s closingMetaStore, err error) sessiond.MetaStore {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}
}

// metaStores returns every store available here: memory and SQLite
// always, PostgreSQL and Redis when their test addresses are set (required
// under SESSIOND_TEST_REQUIRE=1). Each on fresh, isolated data.
func metaStores(t *testing.T) []metaStore {
	t.Helper()
	mem := memstore.New()
	out := []metaStore{
		{"memory", func(*testing.T) sessiond.MetaStore { return mem }},
		{"sqlite", func() func(t *testing.T) sessiond.MetaStore {
			path := filepath.Join(t.TempDir(), "sessiond.db")
			return func(t *testing.T) sessiond.MetaStore {
				return opened(t)(sqlitestore.New(context.Background(), path, sqlitestore.Options{}))
			}
		}()},
	}
	suffix := func() string {
		var b [6]byte
		_, _ = rand.Read(b[:])
		return hex.EncodeToString(b[:])
	}
	if dsn := os.Getenv("SESSIOND_TEST_POSTGRES_URL"); dsn != "" {
		schema := "signing_test_" + suffix()
		t.Cleanup(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			conn, err := pgx.Connect(ctx, dsn)
			if err != nil {
				t.Errorf("drop schema: %v", err)
				return
			}
			defer conn.Close(ctx)
			if _, err := conn.Exec(ctx, "DROP SCHEMA IF EXISTS "+pgx.Identifier{schema}.Sanitize()+" CASCADE"); err != nil {
				t.Errorf("drop schema %s: %v", schema, err)
			}
		})
		out = append(out, metaStore{"postgres", func(t *testing.T) sessiond.MetaStore {
			return opened(t)(pgstore.New(context.Background(), dsn, pgstore.Options{Schema: schema}))
		}})
	} else {
		testenv.Unset(t, "SESSIOND_TEST_POSTGRES_URL", "that store is not tested here")
	}
	if u := os.Getenv("SESSIOND_TEST_REDIS_URL"); u != "" {
		prefix := "signingtest-" + suffix()
		t.Cleanup(func() { testenv.DeleteRedisPrefix(t, u, prefix) })
		out = append(out, metaStore{"redis", func(t *testing.T) sessiond.MetaStore {
			return opened(t)(redisstore.New(context.Background(), u, redisstore.Options{Prefix: prefix}))
		}})
	} else {
		testenv.Unset(t, "SESSIOND_TEST_REDIS_URL", "that store is not tested here")
	}
	return out
}
