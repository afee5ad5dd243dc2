package server

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/internal/testenv"
	"github.com/sessiond/sessiond/memstore"
	"github.com/sessiond/sessiond/pgstore"
	"github.com/sessiond/sessiond/redisstore"
	"github.com/sessiond/sessiond/sessiondtest"
)

// TestWarnStoreSettings: a pool larger than PostgreSQL's remaining
// connections, a Redis that keeps nothing on disk and one that evicts keys
// when full are warned about at start with their numbers; a small pool, a
// Redis that refuses writes when full or has no limit, and the memory
// store are not.
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
	t.Run("PostgreSQL autovacuum", func(t *testing.T) {
		dsn := sessiondtest.RequireEnv(t, "SESSIOND_TEST_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/test?sslmode=disable")
		conn, err := pgx.Connect(t.Context(), dsn)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close(context.Background())
		// This machine's server runs with autovacuum off, others with it
		// on: read what this one does and expect the warning to follow.
		var serverOn bool
		if err := conn.QueryRow(t.Context(), "SELECT current_setting('autovacuum')::bool AND current_setting('track_counts')::bool").Scan(&serverOn); err != nil {
			t.Fatal(err)
		}
		schema := testenv.PostgresSchema(t, dsn, "autovacuum")
		st, err := pgstore.New(t.Context(), dsn, pgstore.Options{Schema: schema, MaxConns: 1})
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		avWarnings := func(out string) int {
			n := 0
			for line := range strings.Lines(out) {
				if strings.Contains(line, "level=WARN") && strings.Contains(line, "autovacuum") {
					n++
				}
			}
			return n
		}
		out := warned(st)
		if want := map[bool]int{true: 0, false: 1}[serverOn]; avWarnings(out) != want {
			t.Errorf("autovacuum and track_counts on: %v; warned %q; want %d autovacuum warning", serverOn, out, want)
		}
		// One of its tables turning autovacuum off is warned about on any
		// server, naming the table.
		if _, err := conn.Exec(t.Context(), "ALTER TABLE "+pgx.Identifier{schema, "tokens"}.Sanitize()+" SET (autovacuum_enabled = off)"); err != nil {
			t.Fatal(err)
		}
		if out := warned(st); avWarnings(out) != 1 || !strings.Contains(out, "tables_off=[tokens]") {
			t.Errorf("with tokens' autovacuum_enabled off: warned %q; want one autovacuum warning naming tokens", out)
		}
	})
	t.Run("Redis", func(t *testing.T) {
		progs := testenv.Programs(t, "the Redis persistence warnings", " (apt-get install redis-server)", "redis-server")
		for _, c := range []struct {
			name string
			args []string
			want []string // each warning's words, one warning each; nil for none
		}{
			{"nothing kept", []string{"--save", "", "--appendonly", "no"}, []string{"keeps nothing"}},
			// a restart rolls back: revoked sessions come back to life
			{"snapshots only", []string{"--save", "3600 1", "--appendonly", "no"}, []string{"keeps only snapshots"}},
			{"append-only file", []string{"--save", "", "--appendonly", "yes"}, nil},
			{"both", []string{"--save", "3600 1", "--appendonly", "yes"}, nil},
			// full, it deletes keys: revocations and one-time keys among them
			{"evicts", []string{"--appendonly", "yes", "--maxmemory", "100mb", "--maxmemory-policy", "volatile-lru"}, []string{"evicts keys"}},
			{"evicts all", []string{"--appendonly", "yes", "--maxmemory", "100mb", "--maxmemory-policy", "allkeys-lru"}, []string{"evicts keys"}},
			{"refuses writes when full", []string{"--appendonly", "yes", "--maxmemory", "100mb", "--maxmemory-policy", "noeviction"}, nil},
			{"no limit", []string{"--appendonly", "yes", "--maxmemory", "0", "--maxmemory-policy", "allkeys-lru"}, nil},
			// Managed services refuse CONFIG, by renaming it away or by
			// ACL: neither setting can be read, and the operator is told
			// once per check what to verify by hand, even where the
			// settings are the worst (nothing kept, evicting).
			{"CONFIG renamed away", []string{"--save", "", "--appendonly", "no", "--maxmemory", "100mb", "--maxmemory-policy", "allkeys-lru",
				"--rename-command", "CONFIG", ""}, []string{"persistence not checked", "eviction policy not checked"}},
			{"CONFIG denied by ACL", []string{"--save", "", "--appendonly", "no", "--maxmemory", "100mb", "--maxmemory-policy", "allkeys-lru",
				"--user", "default", "on", "nopass", "~*", "&*", "+@all", "-config"}, []string{"persistence not checked", "eviction policy not checked"}},
		} {
			t.Run(c.name, func(t *testing.T) {
				port := testenv.FreePort(t)
				cmd := exec.Command(progs["redis-server"], append([]string{"--port", strconv.Itoa(port), "--bind", "127.0.0.1",
					"--dir", t.TempDir()}, c.args...)...)
				if err := cmd.Start(); err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
				url := fmt.Sprintf("redis://127.0.0.1:%d/0", port)
				var st *redisstore.Store
				deadline := time.Now().Add(10 * time.Second)
				for {
					var err error
					if st, err = redisstore.New(t.Context(), url, redisstore.Options{Prefix: "persist"}); err == nil {
						break
					} else if time.Now().After(deadline) {
						t.Fatalf("private redis-server: %v", err)
					}
					time.Sleep(50 * time.Millisecond)
				}
				defer st.Close()
				out := warned(st)
				var warns []string
				for line := range strings.Lines(out) {
					if strings.Contains(line, "level=WARN") {
						warns = append(warns, line)
					}
				}
				ok := len(warns) == len(c.want)
				for i := 0; ok && i < len(warns); i++ {
					ok = strings.Contains(warns[i], c.want[i])
				}
				if !ok {
					t.Errorf("warned %q; want %d warnings, saying %q", out, len(c.want), c.want)
				}
			})
		}
	})
	if out := warned(memstore.New()); out != "" {
		t.Errorf("memory store: logged %q; want nothing", out)
	}
}
