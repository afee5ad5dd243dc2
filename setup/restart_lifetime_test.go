package setup_test

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/sessiondtest"
	"github.com/sessiond/sessiond/setup"
	"github.com/sessiond/sessiond/sqlitestore"
)

// TestRestart_ShorterAccessLifetimeKeepsRevocation: the only hybrid node
// on an SQLite file issues a 1-hour access token, revokes its session, and
// is restarted 20 minutes later with lifetimes.access lowered to 15
// minutes (an operator tightening lifetimes). The token's own exp is still
// 40 minutes ahead and its signature good, and the restarted node rebuilds
// its revoked set only 15 minutes (plus margins) back: the token must not
// verify (it is held to the new lifetime), nor must a live session's token
// of the same age, while a token the new node issues does.
func TestRestart_ShorterAccessLifetimeKeepsRevocation(t *testing.T) {
	ctx := context.Background()
	clock := sessiondtest.NewClock(time.Now().UTC())
	path := filepath.Join(t.TempDir(), "sessions.db")
	open := func() sessiond.Store {
		st, err := sqlitestore.New(ctx, path, sqlitestore.Options{})
		if err != nil {
			t.Fatal(err)
		}
		return st
	}
	life := func(access time.Duration) sessiond.Lifetimes {
		return sessiond.Lifetimes{Access: access, Refresh: 30 * 24 * time.Hour, Idle: 2 * time.Hour, Absolute: 8 * time.Hour}
	}

	st := open()
	m, err := setup.New(ctx, st, setup.Options{NoAnomalies: true, Manager: sessiond.Options{Clock: clock, Lifetimes: life(time.Hour)}})
	if err != nil {
		t.Fatal(err)
	}
	iss, err := m.Create(ctx, "alice", sessiond.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	live, err := m.Create(ctx, "bob", sessiond.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Revoke(ctx, iss.Session.ID, sessiond.ReasonLogout); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Verify(ctx, iss.AccessToken, sessiond.Client{}); !errors.Is(err, sessiond.ErrRevoked) {
		t.Fatalf("Verify before restart = %v; want ErrRevoked", err)
	}
	_ = m.Close()
	_ = st.Close()

	clock.Advance(20 * time.Minute) // the token's exp is 40 minutes ahead
	st = open()
	defer st.Close()
	m, err = setup.New(ctx, st, setup.Options{NoAnomalies: true, Manager: sessiond.Options{Clock: clock, Lifetimes: life(15 * time.Minute)}})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if _, err := m.Verify(ctx, iss.AccessToken, sessiond.Client{}); !errors.Is(err, sessiond.ErrRevoked) && !errors.Is(err, sessiond.ErrExpired) {
		t.Errorf("Verify of the revoked session's unexpired token after a restart with a shorter access lifetime = %v; want ErrRevoked or ErrExpired", err)
	}
	if _, err := m.Verify(ctx, live.AccessToken, sessiond.Client{}); !errors.Is(err, sessiond.ErrExpired) {
		t.Errorf("Verify of a 20-minute-old token under a 15-minute access lifetime = %v; want ErrExpired", err)
	}
	next, err := m.Refresh(ctx, live.RefreshToken, sessiond.Client{})
	if err != nil {
		t.Fatalf("Refresh of the live session after the restart = %v", err)
	}
	if _, err := m.Verify(ctx, next.AccessToken, sessiond.Client{}); err != nil {
		t.Errorf("Verify of a token the restarted node issued = %v; want nil", err)
	}
}
