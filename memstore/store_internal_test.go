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

// TestStore_CreateLimitedForgetsRevoked checks that a limited login's work
// does not grow with the subject's history: what it reads (the subject's
// sessions in bySubject) stays at the limit however many sessions the
// subject logged out of or was evicted from before.
func TestStore_CreateLimitedForgetsRevoked(t *testing.T) {
	const max, logins = 5, 200
	for _, logout := range []bool{false, true} {
		name := map[bool]string{false: "Evicted", true: "LoggedOut"}[logout]
		t.Run(name, func(t *testing.T) {
			ctx := t.Context()
			st := New()
			t0 := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
			for i := range logins {
				at := t0.Add(time.Duration(i) * time.Second)
				s := &sessiond.Session{ID: sessiond.NewSessionID(), Subject: "alice", CreatedAt: at, LastActiveAt: at,
					IdleExpiresAt: at.Add(time.Hour), ExpiresAt: at.Add(8 * time.Hour)}
				if _, err := st.CreateLimited(ctx, s, max, true); err != nil {
					t.Fatalf("CreateLimited() = %v", err)
				}
				if logout {
					if _, err := st.Revoke(ctx, s.ID, at, sessiond.ReasonLogout); err != nil {
						t.Fatalf("Revoke() = %v", err)
					}
				}
			}
			st.mu.RLock()
			defer st.mu.RUnlock()
			// max live, and the one the last login evicted.
			if n := len(st.bySubject["alice"]); n > max+1 {
				t.Errorf("after %d limited logins (max %d): a login reads %d sessions of the subject; want at most %d", logins, max, n, max+1)
			}
		})
	}
}
