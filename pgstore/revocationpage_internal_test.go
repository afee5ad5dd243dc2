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
// within one revoked_at, and no parallel workers even where the planner
// would start them (their start cost more than the page: 25–90 ms for
// 9–20 ms of work), with 20,000 revocations and parallel plans made cheap
// for the planner. A row holding its session's columns (migration 0011)
// reads no session: the primary key of sessions is probed only for the
// rows an older version logged without them.
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
	} {
		if _, err := conn.Exec(ctx, q.sql, q.args...); err != nil {
			t.Fatal(err)
		}
	}
	for _, q := range []string{"ANALYZE " + schema + ".sessions",
		"SET parallel_setup_cost = 0", "SET parallel_tuple_cost = 0", "SET min_parallel_index_scan_size = 0",
		"SET min_parallel_table_scan_size = 0"} {
		if _, err := conn.Exec(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	defer conn.Exec(ctx, "RESET ALL")
	since := now.Add(-time.Hour)
	for _, tc := range []struct {
		name   string
		log    string // fills revocation_log
		probes bool   // whether sessions_pkey is probed
	}{
		{"Copied", `INSERT INTO ` + schema + `.revocation_log (` + logCols + `) SELECT ` + logFrom + ` FROM ` + schema + `.sessions`, false},
		{"OldNode", `INSERT INTO ` + schema + `.revocation_log (session_id, revoked_at) SELECT id, revoked_at FROM ` + schema + `.sessions`, true},
	} {
		for _, q := range []string{"TRUNCATE " + schema + ".revocation_log", tc.log, "ANALYZE " + schema + ".revocation_log", revPageBegin} {
			if _, err := conn.Exec(ctx, q); err != nil {
				t.Fatal(err)
			}
		}
		for _, after := range []time.Time{since, since.Add(19 * time.Second)} { // from the start, and near the end
			rows, err := conn.Query(ctx, "EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) "+st.q.revPageLogged, after,
				pgtype.Timestamptz{Time: after, Valid: true}, "", since, "incident", 1001)
			if err != nil {
				t.Fatal(err)
			}
			lines, err := pgx.CollectRows(rows, pgx.RowTo[string])
			if err != nil {
				t.Fatal(err)
			}
			plan := strings.Join(lines, "\n")
			for _, want := range []string{"revocation_log_revoked_at", "Incremental Sort", "One-Time Filter: (l.subject IS NULL)"} {
				if !strings.Contains(plan, want) {
					t.Errorf("%s: page after %v: plan without %s:\n%s", tc.name, after, want, plan)
				}
			}
			for _, not := range []string{"Gather", "Seq Scan"} {
				if strings.Contains(plan, not) {
					t.Errorf("%s: page after %v: plan with %s:\n%s", tc.name, after, not, plan)
				}
			}
			for _, line := range lines {
				if strings.Contains(line, "sessions_pkey") && strings.Contains(line, "never executed") == tc.probes {
					t.Errorf("%s: page after %v: %s; want the probe run: %t\n%s", tc.name, after, strings.TrimSpace(line), tc.probes, plan)
				}
			}
		}
		if _, err := conn.Exec(ctx, "ROLLBACK"); err != nil {
			t.Fatal(err)
		}
	}
}
