package pgstore

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
)

// TestPageRevocationsPlan: a page of the log is a range of
// revocation_log_revoked_at from its cursor, sorted on session_id only
// within one revoked_at, each row a probe of the primary key, and no
// parallel workers even where the planner would start them (their start
// cost more than the page: 25–90 ms for 9–20 ms of work), with 20,000
// revocations and parallel plans made cheap for the planner.
func TestPageRevocationsPlan(t *testing.T) {
	ctx := context.Background()
	st := newSchemaStore(t, Options{})
	schema := st.schema
	now := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	conn, err := st.pool.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Release()
	for _, q := range []struct {
		sql  string
		args []any
	}{
		{`INSERT INTO ` + schema + `.sessions (id, subject, strategy, created_at, last_active_at, idle_expires_at, expires_at, revoked_at, revoke_reason)
		SELECT md5(i::text), 'user', 'hybrid', $1, $1, $2, $2, $1::timestamptz + i * interval '1 ms', 'logout' FROM generate_series(1, 20000) i`,
			[]any{now.Add(-time.Hour), now.Add(time.Hour)}},
		{`INSERT INTO ` + schema + `.revocation_log (session_id, revoked_at) SELECT id, revoked_at FROM ` + schema + `.sessions`, nil},
	} {
		if _, err := conn.Exec(ctx, q.sql, q.args...); err != nil {
			t.Fatal(err)
		}
	}
	for _, q := range []string{"ANALYZE " + schema + ".sessions", "ANALYZE " + schema + ".revocation_log",
		"SET parallel_setup_cost = 0", "SET parallel_tuple_cost = 0", "SET min_parallel_index_scan_size = 0",
		"SET min_parallel_table_scan_size = 0"} {
		if _, err := conn.Exec(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	defer conn.Exec(ctx, "RESET ALL")
	if _, err := conn.Exec(ctx, revPageBegin); err != nil {
		t.Fatal(err)
	}
	defer conn.Exec(ctx, "ROLLBACK")
	since := now.Add(-time.Hour)
	for _, after := range []time.Time{since, since.Add(19 * time.Second)} { // from the start, and near the end
		rows, err := conn.Query(ctx, "EXPLAIN (COSTS OFF) "+st.q.revPageLogged, after,
			pgtype.Timestamptz{Time: after, Valid: true}, "", since, "incident", 1001)
		if err != nil {
			t.Fatal(err)
		}
		lines, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			t.Fatal(err)
		}
		plan := strings.Join(lines, "\n")
		for _, want := range []string{"revocation_log_revoked_at", "Incremental Sort", "sessions_pkey"} {
			if !strings.Contains(plan, want) {
				t.Errorf("page after %v: plan without %s:\n%s", after, want, plan)
			}
		}
		for _, not := range []string{"Gather", "Seq Scan"} {
			if strings.Contains(plan, not) {
				t.Errorf("page after %v: plan with %s:\n%s", after, not, plan)
			}
		}
	}
}
