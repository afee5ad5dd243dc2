package storebench

import (
	"compress/gzip"
	"context"
	"database/sql"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/rueidis"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/jwttoken"
	"github.com/sessiond/sessiond/memstore"
	"github.com/sessiond/sessiond/pgstore"
	"github.com/sessiond/sessiond/redisstore"
	"github.com/sessiond/sessiond/sessiondtest"
	"github.com/sessiond/sessiond/sqlitestore"
	"github.com/sessiond/sessiond/verifier/stream"

	"github.com/sessiond/sessiond/internal/apikey"
	"github.com/sessiond/sessiond/internal/httpapi"
	"github.com/sessiond/sessiond/internal/testenv"
)

// snapshotRevocations is how many revocations BenchmarkRevocationSnapshot
// stores: SESSIOND_BENCH_REVOCATIONS, 20,000 without it.
func snapshotRevocations(b *testing.B) int {
	v := os.Getenv("SESSIOND_BENCH_REVOCATIONS")
	if v == "" {
		return 20_000
	}
	n, err := strconv.Atoi(v)
	if err != nil || n <= 0 {
		b.Fatalf("SESSIOND_BENCH_REVOCATIONS=%q: want a positive number", v)
	}
	return n
}

// snapshotNow is the time of the benchmark's snapshots; its revocations
// are spread over the 5 minutes (300 µs apart) of an access lifetime
// before it.
var snapshotNow = time.Date(2030, time.January, 2, 3, 4, 5, 0, time.UTC)

// BenchmarkRevocationSnapshot: one GET /v1/revocations/snapshot (gzipped,
// as the verifiers ask for it) of SESSIOND_BENCH_REVOCATIONS logouts
// within an access lifetime, on SQLite, PostgreSQL and Redis, with the
// store read whole (read=whole: Store.Revocations, as before pages) and a
// page at a time (read=paged: RevocationPager), in one process.
// peak-heap-MB is the heap's highest point during the request, above where
// it started (testenv.HeapPeak): the handler and the store's client,
// without the database's memory. The revocations are written with the
// driver, not through the store (a million logouts would take hours).
func BenchmarkRevocationSnapshot(b *testing.B) {
	n := snapshotRevocations(b)
	for label, fill := range map[string]func(b *testing.B, n int) sessiond.Store{
		"sqlite": fillSQLite, "postgres": fillPostgres, "redis": fillRedis,
	} {
		b.Run(label, func(b *testing.B) {
			st := fill(b, n)
			for _, paged := range []bool{false, true} {
				b.Run(map[bool]string{false: "read=whole", true: "read=paged"}[paged], func(b *testing.B) {
					url := snapshotServer(b, st, paged)
					var peak uint64
					for b.Loop() {
						stop := testenv.HeapPeak()
						size := getSnapshot(b, url)
						peak = max(peak, stop())
						b.SetBytes(size)
					}
					b.ReportMetric(float64(peak)/1e6, "peak-heap-MB")
				})
			}
		})
	}
}

// snapshotServer serves the API's snapshot of st at snapshotNow, reading
// st a page at a time or whole.
func snapshotServer(b *testing.B, st sessiond.Store, paged bool) string {
	b.Helper()
	ctx := context.Background()
	clock := sessiondtest.NewClock(snapshotNow)
	ring, err := jwttoken.NewRing(snapshotNow, jwttoken.RingOptions{MaxTokenLifetime: 24 * time.Hour})
	if err != nil {
		b.Fatal(err)
	}
	signed, err := jwttoken.New(ring, jwttoken.Options{Issuer: "https://bench", Audience: "bench"})
	if err != nil {
		b.Fatal(err)
	}
	life := sessiond.Lifetimes{Access: 5 * time.Minute, Refresh: 24 * time.Hour, Idle: 30 * time.Minute, Absolute: 8 * time.Hour}
	log := memstore.New()
	rs := &httpapi.RevocationStream{Log: log, Revocations: st.Revocations, AccessLifetime: life.Access, Now: clock.Now,
		Watermarks: func(context.Context) ([]stream.Watermark, error) { return nil, nil }}
	if paged {
		rs.Page = st.(sessiond.RevocationPager).PageRevocations
	}
	h, err := httpapi.New(httpapi.Options{Manager: testenv.HybridManager(ctx, b, log, signed, clock, life), JWKS: ring.JWKS, Stream: rs,
		Logger: slog.New(slog.DiscardHandler), WriteTimeout: time.Minute,
		Authenticate: func(context.Context, sessiond.Secret) (apikey.Key, error) {
			return apikey.Key{ID: "bench", Scopes: []apikey.Scope{apikey.ScopeVerify}}, nil
		}})
	if err != nil {
		b.Fatal(err)
	}
	srv := httptest.NewServer(h)
	b.Cleanup(srv.Close)
	return srv.URL
}

// getSnapshot reads the gzipped snapshot at url to its end and returns its
// size decompressed.
func getSnapshot(b *testing.B, url string) int64 {
	b.Helper()
	req, err := http.NewRequest(http.MethodGet, url+stream.SnapshotPath, nil)
	if err != nil {
		b.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer sdak_bench")
	req.Header.Set("Accept-Encoding", "gzip")
	resp, err := (&http.Client{Transport: &http.Transport{DisableCompression: true}}).Do(req)
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	z, err := gzip.NewReader(resp.Body)
	if err != nil {
		b.Fatal(err)
	}
	size, err := io.Copy(io.Discard, z)
	if err != nil || resp.StatusCode != http.StatusOK {
		b.Fatalf("snapshot: status %d, %v", resp.StatusCode, err)
	}
	return size
}

// The fills store n sessions revoked for logout 300 µs apart in the five
// minutes before snapshotNow, ending 8 hours after it, of 100,000
// subjects.

func fillSQLite(b *testing.B, n int) sessiond.Store {
	ctx := context.Background()
	path := filepath.Join(b.TempDir(), "bench.db")
	st, err := sqlitestore.New(ctx, path, sqlitestore.Options{}) // the schema
	if err != nil {
		b.Fatal(err)
	}
	st.Close()
	db, err := sql.Open("sqlite", path)
	if err != nil {
		b.Fatal(err)
	}
	us := func(d time.Duration) int64 { return snapshotNow.Add(d).UnixMicro() }
	_, err = db.Exec(`WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM n WHERE i < ?4)
		INSERT INTO sessions (id, subject, strategy, created_at, last_active_at, idle_expires_at, expires_at, client_ip, client_ua, revoked_at, revoke_reason)
		SELECT printf('%026d', i), 'user-' || (i % 100000), 'hybrid', ?1, ?1, ?2, ?2, '203.0.113.7', 'bench', ?3 + i * 300, 'logout' FROM n`,
		us(-time.Hour), us(8*time.Hour), us(-5*time.Minute), n)
	db.Close()
	if err != nil {
		b.Fatal(err)
	}
	if st, err = sqlitestore.New(ctx, path, sqlitestore.Options{}); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	return st
}

func fillPostgres(b *testing.B, n int) sessiond.Store {
	u := os.Getenv("SESSIOND_TEST_POSTGRES_URL")
	if u == "" {
		b.Skip("SESSIOND_TEST_POSTGRES_URL is not set")
	}
	ctx := context.Background()
	schema := name()
	st, err := pgstore.New(ctx, u, pgstore.Options{Schema: schema})
	if err != nil {
		b.Fatal(err)
	}
	pool, err := pgxpool.New(ctx, u)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		st.Close()
		pool.Exec(context.Background(), "DROP SCHEMA "+schema+" CASCADE")
		pool.Close()
	})
	for _, q := range []struct {
		sql  string
		args []any
	}{
		{`INSERT INTO ` + schema + `.sessions (id, subject, strategy, created_at, last_active_at, idle_expires_at, expires_at,
			client_ip, client_ua, revoked_at, revoke_reason, gc_at)
		SELECT lpad(i::text, 26, '0'), 'user-' || (i % 100000), 'hybrid', $1, $1, $2, $2, '203.0.113.7', 'bench',
			$3::timestamptz + i * interval '300 microseconds', 'logout', $2
		FROM generate_series(1, $4) i`,
			[]any{snapshotNow.Add(-time.Hour), snapshotNow.Add(8 * time.Hour), snapshotNow.Add(-5 * time.Minute), n}},
		// Logged as a logout logs it: with the session's columns the
		// snapshot reads (pgstore migration 0011).
		{`INSERT INTO ` + schema + `.revocation_log (session_id, revoked_at, subject, expires_at, revoke_reason, created_at)
		SELECT id, revoked_at, subject, expires_at, revoke_reason, created_at FROM ` + schema + `.sessions`, nil},
		{`ANALYZE ` + schema + `.sessions`, nil},
		{`ANALYZE ` + schema + `.revocation_log`, nil},
	} {
		if _, err := pool.Exec(ctx, q.sql, q.args...); err != nil {
			b.Fatal(err)
		}
	}
	return st
}

func fillRedis(b *testing.B, n int) sessiond.Store {
	u := os.Getenv("SESSIOND_TEST_REDIS_URL")
	if u == "" {
		b.Skip("SESSIOND_TEST_REDIS_URL is not set")
	}
	ctx := context.Background()
	prefix := name()
	st, err := redisstore.New(ctx, u, redisstore.Options{Prefix: prefix})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close(); testenv.DeleteRedisPrefix(b, u, prefix) })
	opt, err := rueidis.ParseURL(u)
	if err != nil {
		b.Fatal(err)
	}
	opt.DisableCache = true
	c, err := rueidis.NewClient(opt)
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	// The store's layout (docs/redisstore.md): a hash per session with
	// the fields a revocation needs, and the revocation index.
	exp := strconv.FormatInt(snapshotNow.Add(8*time.Hour).UnixMicro(), 10)
	for lo := 0; lo < n; lo += 5000 {
		cmds := make(rueidis.Commands, 0, 5001)
		zadd := c.B().Zadd().Key(prefix + ":{" + prefix + "}:rev").ScoreMember()
		for i := lo; i < min(n, lo+5000); i++ {
			tag := strconv.FormatInt(int64(0x1000000000000000+i%100000), 16) // 16 hex digits, as a subject's
			id := strconv.FormatInt(int64(1e17+i), 10)[1:]                   // 17 digits
			at := snapshotNow.Add(-5*time.Minute + time.Duration(i)*300*time.Microsecond).UnixMicro()
			cmds = append(cmds, c.B().Hset().Key(prefix+":{"+tag+"}:s:"+id).FieldValue().
				FieldValue("sub", "user-"+strconv.Itoa(i%100000)).FieldValue("e", exp).FieldValue("ra", strconv.FormatInt(at, 10)).
				FieldValue("rr", "logout").FieldValue("str", "hybrid").Build())
			zadd = zadd.ScoreMember(float64(at), tag+id)
		}
		cmds = append(cmds, zadd.Build())
		for _, r := range c.DoMulti(ctx, cmds...) {
			if err := r.Error(); err != nil {
				b.Fatal(err)
			}
		}
	}
	return st
}
