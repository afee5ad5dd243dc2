package sqlitestore_test

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/sessiondtest"
)

// TestStore_CreateLimitedReadBound: a login of a subject far over a
// lowered limit reads sessiond.LimitRead of its sessions (the first
// stored), not all of them, and evicts the least recently active of those:
// the least recently active of all, stored last, is left to a later login.
func TestStore_CreateLimitedReadBound(t *testing.T) {
	st := open(t, filepath.Join(t.TempDir(), "sessions.db"))
	ctx := t.Context()
	t0 := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	const max = 5
	total := sessiond.LimitRead(max) + 100
	var last *sessiond.Session
	for i := range total {
		s := sessiondtest.NewSession("alice", t0)
		s.LastActiveAt = t0.Add(time.Duration(i) * time.Millisecond)
		if i == total-1 {
			s.LastActiveAt = t0.Add(-time.Hour)
			last = s
		}
		if err := st.Create(ctx, s); err != nil {
			t.Fatalf("Create() = %v", err)
		}
	}
	n := sessiondtest.NewSession("alice", t0.Add(time.Minute))
	evicted, err := st.CreateLimited(ctx, n, max, true)
	if err != nil || len(evicted) != sessiond.MaxLimitEvictions {
		t.Fatalf("CreateLimited(max %d) over %d live = %d evicted, %v; want %d", max, total, len(evicted), err, sessiond.MaxLimitEvictions)
	}
	for _, r := range evicted {
		if r.SessionID == last.ID {
			t.Fatalf("CreateLimited evicted %s, the last of %d sessions stored; want it unread (%d read)", last.ID, total, sessiond.LimitRead(max))
		}
	}
}
