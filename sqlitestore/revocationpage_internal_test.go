package sqlitestore

import (
	"strings"
	"testing"
)

// TestRevocationPagePlan: a page of revocations is a range of
// sessions_revoked_at from its cursor, sorting only the rows of one
// revoked_at by ID (the last term of the ORDER BY), never every revoked
// session: the snapshot reads a page between two writes of its document.
func TestRevocationPagePlan(t *testing.T) {
	st := planStore(t)
	for _, except := range []string{"", "incident"} {
		got := queryPlan(t, st, revocationPageQuery, 1, 1, "", 1, except, 1001)
		if !strings.Contains(got, "USING INDEX sessions_revoked_at (revoked_at>?)") || !strings.Contains(got, "LAST TERM OF ORDER BY") ||
			strings.Contains(got, "SCAN") {
			t.Errorf("PageRevocations plan (except %q) = %q; want a range of sessions_revoked_at sorted by ID within a time", except, got)
		}
	}
}
