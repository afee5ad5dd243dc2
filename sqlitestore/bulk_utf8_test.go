package sqlitestore_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/sessiondtest"
)

// TestStore_RevokeMatchingInvalidUTF8Subject: subjects go to SQLite as a
// JSON array, and json.Marshal replaces invalid UTF-8 with U+FFFD: a kill
// switch for the subject "a\xffb" revoked the sessions of the different
// subject "a\uFFFDb". Only a direct store caller reaches it (the Manager
// refuses such subjects); the subject itself is matched byte for byte.
func TestStore_RevokeMatchingInvalidUTF8Subject(t *testing.T) {
	st := open(t, filepath.Join(t.TempDir(), "sessions.db"))
	ctx := context.Background()
	now := time.Now().UTC().Truncate(time.Microsecond)
	victim := sessiondtest.NewSession("a\uFFFDb", now.Add(-time.Minute))
	if err := st.Create(ctx, victim); err != nil {
		t.Fatalf("Create = %v", err)
	}
	n, subjects, err := st.RevokeMatching(ctx, sessiond.RevokeFilter{Subjects: []string{"a\xffb"}}, now, sessiond.ReasonAdmin)
	if err != nil || n != 0 {
		t.Errorf("RevokeMatching(subjects [\"a\\xffb\"]) = %d, %q, %v; want 0 (no session has that subject), as memstore", n, subjects, err)
	}
	odd := sessiondtest.NewSession("a\xffb", now.Add(-time.Minute))
	if err := st.Create(ctx, odd); err != nil {
		t.Fatalf("Create = %v", err)
	}
	n, _, err = st.RevokeMatching(ctx, sessiond.RevokeFilter{Subjects: []string{"bob", "a\xffb"}}, now, sessiond.ReasonAdmin)
	if err != nil || n != 1 {
		t.Errorf("RevokeMatching(subjects [bob, \"a\\xffb\"]) = %d, %v; want 1, the session of exactly that subject", n, err)
	}
	if got, _ := st.Get(ctx, victim.ID); !got.RevokedAt.IsZero() {
		t.Error("the session of a\uFFFDb was revoked")
	}
}
