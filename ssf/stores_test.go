package ssf_test

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/redis/rueidis"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/memstore"
	"github.com/sessiond/sessiond/pgstore"
	"github.com/sessiond/sessiond/redisstore"
	"github.com/sessiond/sessiond/sqlitestore"

	"github.com/sessiond/sessiond/internal/testenv"
)

// txStore is what a Transmitter keeps its streams, queues and SETs in.
type txStore interface {
	sessiond.MetaStore
	sessiond.Outbox
}

// realStore is one backend for the transmitter's storage tests: open
// returns a store on fresh data, closed when t ends, and a count of the
// MetaStore documents it holds, read beside the store (no MetaStore method
// lists them).
type realStore struct {
	name string
	open func(t *testing.T) (st txStore, metaDocs func() int)
}

func randomSuffix() string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// realStores returns SQLite always, and PostgreSQL and Redis when their
// test addresses are set (required under SESSIOND_TEST_REQUIRE=1).
func realStores(t *testing.T) []realStore {
	t.Helper()
	out := []realStore{{"sqlite", openSQLite}}
	if dsn := os.Getenv("SESSIOND_TEST_POSTGRES_URL"); dsn != "" {
		out = append(out, realStore{"postgres", func(t *testing.T) (txStore, func() int) { return openPostgres(t, dsn) }})
	} else {
		testenv.Unset(t, "SESSIOND_TEST_POSTGRES_URL", "PostgreSQL is not tested here")
	}
	if u := os.Getenv("SESSIOND_TEST_REDIS_URL"); u != "" {
		out = append(out, realStore{"redis", func(t *testing.T) (txStore, func() int) { return openRedis(t, u) }})
	} else {
		testenv.Unset(t, "SESSIOND_TEST_REDIS_URL", "Redis is not tested here")
	}
	return out
}

// onEveryStore runs test as a subtest on fresh data in each store:
// memstore, then realStores.
func onEveryStore(t *testing.T, test func(t *testing.T, st txStore)) {
	t.Helper()
	for _, rs := range append([]realStore{memStore}, realStores(t)...) {
		t.Run(rs.name, func(t *testing.T) {
			st, _ := rs.open(t)
			test(t, st)
		})
	}
}

// memStore is memstore as a realStore; it counts no documents.
var memStore = realStore{"memory", func(*testing.T) (txStore, func() int) { return memstore.New(), nil }}

func openSQLite(t *testing.T) (txStore, func() int) {
	path := filepath.Join(t.TempDir(), "sessiond.db")
	st, err := sqlitestore.New(context.Background(), path, sqlitestore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st, func() int {
		db, err := sql.Open("sqlite", path) // the driver sqlitestore registers
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		var n int
		if err := db.QueryRow(`SELECT count(*) FROM meta`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
}

func openPostgres(t *testing.T, dsn string) (txStore, func() int) {
	ctx := context.Background()
	schema := "ssf_test_" + randomSuffix()
	conn := func() *pgx.Conn {
		c, err := pgx.Connect(ctx, dsn)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	t.Cleanup(func() {
		c := conn()
		defer c.Close(ctx)
		if _, err := c.Exec(ctx, "DROP SCHEMA IF EXISTS "+pgx.Identifier{schema}.Sanitize()+" CASCADE"); err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
		}
	})
	st, err := pgstore.New(ctx, dsn, pgstore.Options{Schema: schema})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st, func() int {
		c := conn()
		defer c.Close(ctx)
		var n int
		if err := c.QueryRow(ctx, "SELECT count(*) FROM "+pgx.Identifier{schema, "meta"}.Sanitize()).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
}

func openRedis(t *testing.T, url string) (txStore, func() int) {
	prefix := "ssftest-" + randomSuffix()
	t.Cleanup(func() { testenv.DeleteRedisPrefix(t, url, prefix) })
	st, err := redisstore.New(context.Background(), url, redisstore.Options{Prefix: prefix})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st, func() int { return redisKeys(t, url, prefix+":meta:*") }
}

// redisKeys counts the keys matching pattern.
func redisKeys(t *testing.T, url, pattern string) int {
	t.Helper()
	opt, err := rueidis.ParseURL(url)
	if err != nil {
		t.Fatal(err)
	}
	opt.DisableCache = true
	c, err := rueidis.NewClient(opt)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	n := 0
	for _, node := range c.Nodes() {
		var cursor uint64
		for {
			e, err := node.Do(ctx, node.B().Scan().Cursor(cursor).Match(pattern).Count(1000).Build()).AsScanEntry()
			if err != nil {
				t.Fatal(err)
			}
			n += len(e.Elements)
			if cursor = e.Cursor; cursor == 0 {
				break
			}
		}
	}
	return n
}
