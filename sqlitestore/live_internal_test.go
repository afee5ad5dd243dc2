package sqlitestore

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
)

// TestCountLivePlan: the live count reads the sessions table in order
// rather than walking sessions_idle_expires_at and looking up each live
// row (nearly every row between two garbage collections): 2.6 s instead of
// 4.3-8.5 s for 1,625,362 live sessions of 2,240,714, where the metric's
// 5 s limit had dropped sessiond_sessions_active from every scrape.
func TestCountLivePlan(t *testing.T) {
	ctx := context.Background()
	st, err := New(ctx, filepath.Join(t.TempDir(), "live.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	got := queryPlan(t, st, countLiveQuery, 1, 1)
	if !strings.Contains(got, "SCAN sessions") || strings.Contains(got, "INDEX sessions_") {
		t.Errorf("CountLive plan %q; want a scan of sessions, no index", got)
	}
}
