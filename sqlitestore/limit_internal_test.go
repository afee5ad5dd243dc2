package sqlitestore

import (
	"strings"
	"testing"
)

// TestCreateLimitedPlans: a limited login counts and evicts through
// sessions_subject_live, which holds no revoked session, so its work does
// not grow with the subject's history (through sessions_subject it read
// every session of the subject not yet collected: 18 ms a login after
// 10,000 logins and logouts, docs/PERFORMANCE.md).
func TestCreateLimitedPlans(t *testing.T) {
	st := planStore(t)
	for _, tc := range []struct {
		name  string
		query string
		args  []any
	}{
		{"count", countLiveOfSubject, []any{"alice", 0, 0, 1024}},
		{"evict", evictLeastActive, []any{0, "limit", "alice", "s", 0, 0, 1024, 1}},
	} {
		if got := queryPlan(t, st, tc.query, tc.args...); !strings.Contains(got, "sessions_subject_live") {
			t.Errorf("%s: plan %q; want sessions_subject_live", tc.name, got)
		}
	}
}
