package server

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/internal/testenv"
	"github.com/sessiond/sessiond/memstore"
	"github.com/sessiond/sessiond/pgstore"
	"github.com/sessiond/sessiond/redisstore"
	"github.com/sessiond/sessiond/sessiondtest"
)

// TestWarnStoreSettings: a pool larger than PostgreSQL's remaining
// connections, and a Redis that keeps nothing on disk, are warned about at
// start with their numbers; a small pool and the memory store are not.
func TestWarnStoreSettings(t *testing.T) {
	warned := func(st sessiond.Store) string {
		var out bytes.Buffer
		warnStoreSettings(t.Context(), st, slog.New(slog.NewTextHandler(&out, nil)))
		return out.String()
	}
	t.Run("PostgreSQL", func(t *testing.T) {
		dsn := sessiondtest.RequireEnv(t, "SESSIOND_TEST_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/test?sslmode=disable")
		for _, c := range []struct {
			pool int32
			warn bool
		}{
			{500, true}, // more than any max_connections the test server has
			{1, false},
		} {
			st, err := pgstore.New(t.Context(), dsn, pgstore.Options{Schema: testenv.PostgresSchema(t, dsn, "budget"), MaxConns: c.pool})
			if err != nil {
				t.Fatal(err)
			}
			out := warned(st)
			st.Close()
			got := strings.Contains(out, "level=WARN") && strings.Contains(out, "max_connections=") && strings.Contains(out, "pool_max_conns=")
			if got != c.warn {
				t.Errorf("pool %d: warned %v (%q); want %v", c.pool, got, out, c.warn)
			}
		}
	})
	t.Run("Redis", func(t *testing.T) {
		url := sessiondtest.RequireEnv(t, "SESSIOND_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
		st, err := redisstore.New(context.Background(), url, redisstore.Options{Prefix: testenv.UniqueName("persist")})
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		nodes, err := st.Persistence(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		// The test server's settings are the machine's: the warning must
		// match them, whichever they are.
		out := warned(st)
		if got, want := strings.Contains(out, "level=WARN") && strings.Contains(out, "keeps nothing"), !nodes[0].Kept(); got != want {
			t.Errorf("Redis with %+v: warned %v (%q); want %v", nodes[0], got, out, want)
		}
	})
	if out := warned(memstore.New()); out != "" {
		t.Errorf("memory store: logged %q; want nothing", out)
	}
}
