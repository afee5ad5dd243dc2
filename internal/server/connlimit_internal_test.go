package server

import (
	"bytes"
	"io"
	"log/slog"
	"net"
	"strings"
	"testing"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/internal/config"
	"github.com/sessiond/sessiond/internal/testenv"
	"github.com/sessiond/sessiond/memstore"
	"github.com/sessiond/sessiond/pgstore"
	"github.com/sessiond/sessiond/sessiondtest"
)

// TestMaxConns: the clients' connections get the open-file limit less a
// reserve, less what the store's pool may hold, so a full listener still
// leaves the pool its descriptors.
func TestMaxConns(t *testing.T) {
	for _, tc := range []struct {
		name string
		fds  uint64
		held int
		want int
	}{
		{"unknown", 0, 0, defaultMaxConns},
		{"systemd unit", 65536, 0, 65536 - 8192},
		{"small limit keeps a reserve of 256", 1024, 0, 1024 - 256},
		{"tiny limit keeps half", 300, 0, 150},
		{"one", 1, 0, 1},
		{"unlimited is capped", 1<<64 - 1, 0, 1 << 20},
		{"pool comes out of the connections", 65536, 18, 65536 - 8192 - 18},
		{"pool larger than the reserve", 1024, 258, 1024 - 256 - 258},
		{"pool on a tiny limit", 100, 42, 50 - 42},
		{"pool over the whole share", 100, 500, 1},
		{"pool with an unknown limit", 0, 42, defaultMaxConns - 42},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := maxConns(tc.fds, tc.held); got != tc.want {
				t.Errorf("maxConns(%d, %d) = %d; want %d", tc.fds, tc.held, got, tc.want)
			}
		})
	}
}

// TestStoreDescriptors: a PostgreSQL store counts its pool and listeners;
// stores whose few descriptors fit the reserve count none. The budget the
// server's listeners get (connBudget) is what the pool leaves, warned of
// when the pool crowds it.
func TestStoreDescriptors(t *testing.T) {
	dsn := sessiondtest.RequireEnv(t, "SESSIOND_TEST_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/test?sslmode=disable")
	pg, err := pgstore.New(t.Context(), dsn, pgstore.Options{Schema: testenv.PostgresSchema(t, dsn, "fds"), MaxConns: 40})
	if err != nil {
		t.Fatal(err)
	}
	defer pg.Close()
	for _, tc := range []struct {
		name  string
		store sessiond.Store
		want  int
	}{
		{"postgres", pg, 40 + listenerConns},
		{"memory", memstore.New(), 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := storeDescriptors(tc.store); got != tc.want {
				t.Errorf("storeDescriptors() = %d; want %d", got, tc.want)
			}
		})
	}
	for _, tc := range []struct {
		name  string
		store sessiond.Store
		fds   uint64
		want  int
		warn  string
	}{
		{"postgres under a container's limit", pg, 1024, 1024 - 256 - 42, ""},
		{"postgres crowding a tiny limit", pg, 100, 8, "open_file_limit=100 store_connections=42 client_connections=8"},
		{"memory", memstore.New(), 100, 50, ""},
	} {
		t.Run("budget "+tc.name, func(t *testing.T) {
			var out bytes.Buffer
			if got := connBudget(tc.fds, tc.store, slog.New(slog.NewTextHandler(&out, nil))); got != tc.want {
				t.Errorf("connBudget(%d) = %d; want %d", tc.fds, got, tc.want)
			}
			if got := out.String(); (tc.warn == "") != (got == "") || !strings.Contains(got, tc.warn) {
				t.Errorf("connBudget(%d) logged %q; want a warning with %q (none if empty)", tc.fds, got, tc.warn)
			}
		})
	}
}

// TestWarnPoolDescriptors: a pool taking half or more of what the
// open-file limit leaves is warned of, with its numbers.
func TestWarnPoolDescriptors(t *testing.T) {
	for _, tc := range []struct {
		name        string
		fds         uint64
		held, conns int
		warn        bool
	}{
		{"pool over the share", 100, 42, maxConns(100, 42), true},
		{"pool of half", 1024, 384, 384, true},
		{"small pool", 65536, 18, maxConns(65536, 18), false},
		{"no pool", 128, 0, maxConns(128, 0), false},
		{"unknown limit", 0, 42, maxConns(0, 42), false},
		{"unknown limit, pool over the default's share", 0, 9000, maxConns(0, 9000), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out bytes.Buffer
			warnPoolDescriptors(tc.fds, tc.held, tc.conns, slog.New(slog.NewTextHandler(&out, nil)))
			got := strings.Contains(out.String(), "level=WARN") && strings.Contains(out.String(), "store_connections=")
			if got != tc.warn {
				t.Errorf("warned %v (%q); want %v", got, out.String(), tc.warn)
			}
		})
	}
}

// TestSplitConns: with an admin listener its share comes out of the same
// descriptor budget; an explicit bound is taken as given.
func TestSplitConns(t *testing.T) {
	for _, tc := range []struct {
		name             string
		budget, api, adm int
		admin            bool
		wantAPI, wantAdm int
	}{
		{"no admin listener", 57344, 0, 0, false, 57344, 0},
		{"admin takes its share", 57344, 0, 0, true, 57344 - adminMaxConns, adminMaxConns},
		{"tiny budget: an eighth", 150, 0, 0, true, 150 - 18, 18},
		{"budget of one", 1, 0, 0, true, 1, 1},
		{"explicit API bound", 57344, 2, 0, true, 2, adminMaxConns},
		{"explicit admin bound", 57344, 0, 3, true, 57344 - 3, 3},
		{"admin bound ignored without admin listener", 57344, 0, 3, false, 57344, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			api, adm := splitConns(tc.budget, tc.api, tc.adm, tc.admin)
			if api != tc.wantAPI || adm != tc.wantAdm {
				t.Errorf("splitConns(%d, %d, %d, %v) = %d, %d; want %d, %d", tc.budget, tc.api, tc.adm, tc.admin, api, adm, tc.wantAPI, tc.wantAdm)
			}
		})
	}
}

// TestLimitConn_KeepsTCPMethods: net/http half-closes a connection it is
// about to close with unread request data (CloseWrite, so the client reads
// the 413 or 400 before the close) and sends files with the connection's
// ReadFrom (sendfile), both found by type assertion on the accepted
// connection, which the limit's wrapper must not hide.
func TestLimitConn_KeepsTCPMethods(t *testing.T) {
	raw, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln := limitConns(raw, 4, "api", slog.New(slog.DiscardHandler))
	defer ln.Close()
	dialed := make(chan net.Conn, 1)
	go func() {
		c, err := net.Dial("tcp", raw.Addr().String())
		if err != nil {
			t.Error(err)
		}
		dialed <- c
	}()
	c, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	d := <-dialed
	if d == nil {
		t.FailNow()
	}
	defer d.Close()
	cw, ok := c.(interface{ CloseWrite() error })
	if !ok {
		t.Fatalf("the accepted %T has no CloseWrite", c)
	}
	if _, ok := c.(io.ReaderFrom); !ok {
		t.Errorf("the accepted %T has no ReadFrom", c)
	}
	// The half-close reaches the peer: it reads the end of the stream.
	if err := cw.CloseWrite(); err != nil {
		t.Fatalf("CloseWrite: %v", err)
	}
	if n, err := d.Read(make([]byte, 1)); n != 0 || err != io.EOF {
		t.Errorf("peer read after CloseWrite = %d, %v; want 0, EOF", n, err)
	}
}

// TestRateLimits_StreamsWithinConnectionBudget: one API key's revocation
// streams never take more than a quarter of the API listener's connection
// budget, whatever rate_limit.revocation_streams_per_api_key says: with a
// descriptor limit of 1024 (768 connections) the default of 1000 would let
// one key hold every connection the node accepts.
func TestRateLimits_StreamsWithinConnectionBudget(t *testing.T) {
	for _, tc := range []struct {
		name            string
		configured, api int
		want            int
	}{
		{"the default within a large budget", 1000, 57344, 1000},
		{"the default past a quarter of a small budget", 1000, 768, 192},
		{"a setting under the share", 100, 768, 100},
		{"off stays off", 0, 768, 0},
		{"a tiny budget still lets one stream in", 1000, 2, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := config.Default().RateLimit
			c.RevocationStreamsPerAPIKey = tc.configured
			if got := rateLimits(c, tc.api, slog.New(slog.DiscardHandler)).StreamsPerAPIKey; got != tc.want {
				t.Errorf("streams per key with %d configured and %d connections = %d; want %d", tc.configured, tc.api, got, tc.want)
			}
		})
	}
}
