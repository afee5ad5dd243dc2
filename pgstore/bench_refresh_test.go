package pgstore_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/pgstore"
)

// refreshSessions is how many sessions BenchmarkRefreshWrites refreshes
// in turn.
const refreshSessions = 1_000

// BenchmarkRefreshWrites measures what one SwapRefresh writes, refreshing
// 1,000 sessions in turn after a VACUUM and a CHECKPOINT: WAL bytes
// (pg_current_wal_lsn, so run it on a server nothing else writes to), the
// share of the updates of sessions that were heap-only (HOT), and how much
// sessions and tokens, with their indexes, grew (and tokens' indexes
// alone). It logs the WAL range for pg_waldump --stats. Run it with
// -benchtime Nx.
func BenchmarkRefreshWrites(b *testing.B) {
	st, schema := newStore(b, pgstore.Options{})
	ctx := context.Background()
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	ids := make([]sessiond.SessionID, refreshSessions)
	cur := make([]sessiond.TokenHash, refreshSessions)
	for i := range refreshSessions {
		s := newSession(fmt.Sprintf("user%04d", i), now)
		tok := newToken(sessiond.KindRefresh, s.ID, now)
		if err := st.Create(ctx, s, tok); err != nil {
			b.Fatal(err)
		}
		ids[i], cur[i] = s.ID, tok.Hash
	}
	conn, err := pgx.Connect(ctx, testDSN(b))
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close(ctx)
	sessions, tokens := pgx.Identifier{schema, "sessions"}.Sanitize(), pgx.Identifier{schema, "tokens"}.Sanitize()
	size := func() (s, t, ti int64) {
		if err := conn.QueryRow(ctx, "SELECT pg_total_relation_size($1::regclass), pg_total_relation_size($2::regclass), pg_indexes_size($2::regclass)",
			sessions, tokens).Scan(&s, &t, &ti); err != nil {
			b.Fatal(err)
		}
		return s, t, ti
	}
	for _, sql := range []string{"VACUUM (ANALYZE) " + sessions + ", " + tokens, "CHECKPOINT"} {
		if _, err := conn.Exec(ctx, sql); err != nil {
			b.Fatal(err)
		}
	}
	s0, t0, ti0 := size()
	var lsn0 string
	if err := conn.QueryRow(ctx, "SELECT pg_current_wal_lsn()::text").Scan(&lsn0); err != nil {
		b.Fatal(err)
	}
	i := 0
	for b.Loop() {
		k := i % refreshSessions
		i++
		t := now.Add(time.Duration(i) * time.Millisecond)
		next := newToken(sessiond.KindRefresh, ids[k], t)
		if err := st.SwapRefresh(ctx, sessiond.RefreshSwap{
			Old: cur[k], Next: next, Now: t, GraceSince: t.Add(-5 * time.Second),
			LastActiveAt: t, IdleExpiresAt: t.Add(30 * time.Minute),
		}); err != nil {
			b.Fatal(err)
		}
		cur[k] = next.Hash
	}
	b.StopTimer()
	var (
		lsn1 string
		wal  int64
	)
	if err := conn.QueryRow(ctx, "SELECT pg_current_wal_lsn()::text, pg_wal_lsn_diff(pg_current_wal_lsn(), $1::pg_lsn)::bigint",
		lsn0).Scan(&lsn1, &wal); err != nil {
		b.Fatal(err)
	}
	s1, t1, ti1 := size()
	b.Logf("WAL %s..%s for %d refreshes", lsn0, lsn1, i)
	b.ReportMetric(float64(wal)/float64(i), "WAL-B/op")
	b.ReportMetric(float64(s1-s0)/float64(i), "sessions-growth-B/op")
	b.ReportMetric(float64(t1-t0)/float64(i), "tokens-growth-B/op")
	b.ReportMetric(float64(ti1-ti0)/float64(i), "tokens-index-growth-B/op")

	// The store's connections report their statistics when they end.
	st.Close()
	var upd, hot int64
	for range 50 {
		if err := conn.QueryRow(ctx, `SELECT n_tup_upd, n_tup_hot_upd FROM pg_stat_user_tables
			WHERE relid = $1::regclass`, sessions).Scan(&upd, &hot); err != nil {
			b.Fatal(err)
		}
		if upd >= int64(i) {
			break
		}
		time.Sleep(100 * time.Millisecond)
		if _, err := conn.Exec(ctx, "SELECT pg_stat_clear_snapshot()"); err != nil {
			b.Fatal(err)
		}
	}
	if upd > 0 {
		b.ReportMetric(100*float64(hot)/float64(upd), "HOT-%")
	}
}
