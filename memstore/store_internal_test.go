package memstore

import (
	"testing"
	"time"

	"github.com/sessiond/sessiond"
)

// TestStore_DeleteExpiredIndexes checks that deleting a session removes it
// from every index, so nothing it owned can be reached or leak.
func TestStore_DeleteExpiredIndexes(t *testing.T) {
	ctx := t.Context()
	st := New()
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	s := &sessiond.Session{ID: sessiond.NewSessionID(), Subject: "alice", ExpiresAt: now, IdleExpiresAt: now}
	if err := st.Create(ctx, s, sessiond.Token{Hash: sessiond.HashToken("a"), Kind: sessiond.KindRefresh, SessionID: s.ID}); err != nil {
		t.Fatalf("Create() = %v; want nil", err)
	}
	if _, err := st.Revoke(ctx, s.ID, now.Add(-time.Minute), sessiond.ReasonLogout); err != nil {
		t.Fatalf("Revoke() = %v; want nil", err)
	}
	if n, err := st.DeleteExpired(ctx, now.Add(time.Second), 10); n != 1 || err != nil {
		t.Fatalf("DeleteExpired() = %d, %v; want 1, nil", n, err)
	}
	if len(st.sessions) != 0 || len(st.tokens) != 0 || len(st.bySubject) != 0 || len(st.revoked) != 0 {
		t.Errorf("after DeleteExpired: %d sessions, %d tokens, %d subjects, %d revoked; want all 0",
			len(st.sessions), len(st.tokens), len(st.bySubject), len(st.revoked))
	}
}
