package server

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"

	"github.com/sessiond/sessiond/internal/testenv"
	"github.com/sessiond/sessiond/memstore"
	"github.com/sessiond/sessiond/pgstore"
	"github.com/sessiond/sessiond/sessiondtest"
)

// TestWarnConnectionBudget: a pool larger than PostgreSQL's remaining
// connections is warned about at start, with the numbers; a small one and
// other stores are not.
func TestWarnConnectionBudget(t *testing.T) {
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
		var out bytes.Buffer
		warnConnectionBudget(t.Context(), st, slog.New(slog.NewTextHandler(&out, nil)))
		st.Close()
		got := strings.Contains(out.String(), "level=WARN") && strings.Contains(out.String(), "max_connections=") &&
			strings.Contains(out.String(), "pool_max_conns=")
		if got != c.warn {
			t.Errorf("pool %d: warned %v (%q); want %v", c.pool, got, out.String(), c.warn)
		}
	}
	var out bytes.Buffer
	warnConnectionBudget(t.Context(), memstore.New(), slog.New(slog.NewTextHandler(&out, nil)))
	if out.Len() != 0 {
		t.Errorf("memory store: logged %q; want nothing", out.String())
	}
}
