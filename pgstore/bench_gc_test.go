package pgstore_test

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/sessiond/sessiond/pgstore"
)

// BenchmarkMigrateGCAt1M measures migrations 0008 and 0009 on a schema
// at version 7 holding 1,000,000 sessions (10 % of them past their idle
// expiry) with two refresh tokens each, one retired: the time New takes
// to apply them and the WAL they write (0008 sets gc_at of every stored
// session); then the collector's first pass (DeleteExpired in batches of
// 1,000 until a call deletes fewer), its time and WAL; and one
// round of a version 7 node's collector, which has lost its index, when
// nothing is due (a rolling upgrade). Run it
// with -benchtime 1x, on a server nothing else writes to.
func BenchmarkMigrateGCAt1M(b *testing.B) {
	dsn := testDSN(b)
	ctx := context.Background()
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	for b.Loop() {
		b.StopTimer()
		schema := testSchema(b, dsn)
		migrateUpTo(b, dsn, schema, 7)
		loadSessions(b, schema, bulkSessions, now)
		sessions, tokens := pgx.Identifier{schema, "sessions"}.Sanitize(), pgx.Identifier{schema, "tokens"}.Sanitize()
		conn, err := pgx.Connect(ctx, dsn)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := conn.Exec(ctx, "UPDATE "+sessions+" SET idle_expires_at = $1::timestamptz - interval '1 minute' WHERE hashtext(id) % 10 = 0",
			now); err != nil {
			b.Fatal(err)
		}
		for _, sql := range []string{
			"INSERT INTO " + tokens + " (hash, session_id, kind, issued_at, expires_at, retired_at) " +
				"SELECT sha256(convert_to(id, 'UTF8')), id, 2, created_at, expires_at, NULL FROM " + sessions,
			"INSERT INTO " + tokens + " (hash, session_id, kind, issued_at, expires_at, retired_at) " +
				"SELECT sha256(convert_to(id || 'r', 'UTF8')), id, 2, created_at, expires_at, created_at FROM " + sessions,
		} {
			if _, err := conn.Exec(ctx, sql); err != nil {
				b.Fatal(err)
			}
		}
		for _, sql := range []string{"VACUUM (ANALYZE) " + sessions + ", " + tokens, "CHECKPOINT"} {
			if _, err := conn.Exec(ctx, sql); err != nil {
				b.Fatal(err)
			}
		}
		lsn := func() (l string) {
			if err := conn.QueryRow(ctx, "SELECT pg_current_wal_lsn()::text").Scan(&l); err != nil {
				b.Fatal(err)
			}
			return l
		}
		since := func(l string) (n float64) {
			if err := conn.QueryRow(ctx, "SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), $1::pg_lsn)::float8", l).Scan(&n); err != nil {
				b.Fatal(err)
			}
			return n
		}

		l0, start := lsn(), time.Now()
		b.StartTimer()
		st, err := pgstore.New(ctx, dsn, pgstore.Options{Schema: schema})
		b.StopTimer()
		if err != nil {
			b.Fatal(err)
		}
		migrate, migrateWAL := time.Since(start), since(l0)

		// A node of version 7 during a rolling upgrade: its collector's
		// statement, which sessions_gc served, when nothing is due.
		start = time.Now()
		if _, err := conn.Exec(ctx, "DELETE FROM "+sessions+" WHERE id IN (SELECT id FROM "+sessions+
			" WHERE least(expires_at, idle_expires_at) < $1 LIMIT 1000 FOR UPDATE SKIP LOCKED)", now.Add(-time.Hour)); err != nil {
			b.Fatal(err)
		}
		oldRound := time.Since(start)

		l0, start = lsn(), time.Now()
		deleted := 0
		for {
			n, err := st.DeleteExpired(ctx, now, 1000)
			if err != nil {
				b.Fatal(err)
			}
			deleted += n
			if n < 1000 {
				break
			}
		}
		collect, collectWAL := time.Since(start), since(l0)
		left := queryInt(b, dsn, "SELECT count(*) FROM "+sessions+" WHERE gc_at < $1", now)
		b.Logf("migrate %v, %.0f MB WAL; an old node's collector round %v; first collection %v, %.0f MB WAL, deleted %d, %d still due",
			migrate, migrateWAL/1e6, oldRound, collect, collectWAL/1e6, deleted, left)
		b.ReportMetric(oldRound.Seconds(), "old-round-s")
		b.ReportMetric(migrate.Seconds(), "migrate-s")
		b.ReportMetric(migrateWAL/1e6, "migrate-WAL-MB")
		b.ReportMetric(collect.Seconds(), "collect-s")
		b.ReportMetric(collectWAL/1e6, "collect-WAL-MB")
		st.Close()
		conn.Close(ctx)
		b.StartTimer()
	}
}
