package pgstore

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/sessiond/sessiond"
)

// TestQueryEventsPlans: a query with time bounds reads a range of IDs (of
// the primary key or of its filter's index) and the irregular IDs' own
// index, never the primary key from the oldest event on. With 2,000,000
// events, a type's last two days walked the primary key through 1,933,936
// rows (0.8 s). Plans of an empty table, with sequential scans off so the
// planner shows the index conditions it can use.
func TestQueryEventsPlans(t *testing.T) {
	ctx := context.Background()
	st := newSchemaStore(t, Options{})
	conn, err := st.pool.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, "SET enable_seqscan = off"); err != nil {
		t.Fatal(err)
	}
	defer conn.Exec(ctx, "RESET enable_seqscan")
	now := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name string
		q    sessiond.EventQuery
	}{
		{"type since", sessiond.EventQuery{Type: "session.revoked", Since: now.Add(-48 * time.Hour)}},
		{"type in a window", sessiond.EventQuery{Type: "session.revoked", Since: now.Add(-30 * 24 * time.Hour), Until: now}},
		{"since alone", sessiond.EventQuery{Since: now.Add(-time.Hour)}},
		{"until alone", sessiond.EventQuery{Until: now}},
		{"cursor and since", sessiond.EventQuery{Since: now.Add(-time.Hour), Cursor: sessiond.NewEventID(now)}},
		{"subject, type, window", sessiond.EventQuery{Subject: "alice", Type: "session.revoked", Since: now.Add(-time.Hour), Until: now}},
		{"until before 1970", sessiond.EventQuery{Until: time.Date(1960, 1, 1, 0, 0, 0, 0, time.UTC)}},
		{"no subject, type since", sessiond.EventQuery{NoSubject: true, Type: "session.bulk_revoked", Since: now.Add(-24 * time.Hour)}},
	} {
		f, args := eventQueryArgs(tc.q, 100)
		rows, err := conn.Query(ctx, "EXPLAIN (COSTS OFF) "+st.q.queryEventsSQL(f), args...)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		lines, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		plan := strings.Join(lines, "\n")
		// The range: an index condition bounding id from the time bounds.
		if !strings.Contains(plan, "id >= ") && !strings.Contains(plan, "id < ") {
			t.Errorf("%s: plan without an ID range:\n%s", tc.name, plan)
		}
		// With a type or subject the planner may read the irregular IDs
		// through that index instead (a few rows either way).
		if tc.q.Type == "" && tc.q.Subject == "" && !strings.Contains(plan, "events_irregular") {
			t.Errorf("%s: plan without events_irregular:\n%s", tc.name, plan)
		}
		if strings.Contains(plan, "Seq Scan") {
			t.Errorf("%s: plan scans the table:\n%s", tc.name, plan)
		}
		// The few events without a subject among the type's many: their
		// own index, not every one of the type read row by row.
		if tc.q.NoSubject && (!strings.Contains(plan, "events_no_subject") || strings.Contains(plan, "events_type")) {
			t.Errorf("%s: plan does not read events_no_subject alone:\n%s", tc.name, plan)
		}
	}
}
