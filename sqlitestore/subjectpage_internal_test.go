package sqlitestore

import (
	"math"
	"strings"
	"testing"
)

// TestListPagePlans: a page, forwards or backwards, is a range of
// sessions_subject from its cursor in the index's own order, and ListSpan
// one created_at of it: no temporary B-tree sorting the subject's rows,
// which through the index on subject alone (before migration 0009) read
// every session of the subject for each page, 2–3 s for 100,000.
func TestListPagePlans(t *testing.T) {
	st := planStore(t)
	for _, tc := range []struct {
		name  string
		query string
		args  []any
	}{
		{"after", pageAfterQuery, []any{"alice", int64(math.MinInt64), "", 129, 0}},
		{"before", pageBeforeQuery, []any{"alice", int64(math.MaxInt64), "", 129, 0}},
		{"span", spanQuery, []any{"alice", 1, 2, 0, 0}},
	} {
		got := queryPlan(t, st, tc.query, tc.args...)
		if !strings.Contains(got, "USING INDEX sessions_subject (subject=? AND ") || strings.Contains(got, "TEMP B-TREE") {
			t.Errorf("%s: plan %q; want a range of sessions_subject on subject and created_at, no temporary B-tree", tc.name, got)
		}
	}
}
