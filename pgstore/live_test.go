package pgstore_test

import (
	"maps"
	"testing"
	"time"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/pgstore"
)

func TestStore_CountLive(t *testing.T) {
	t.Parallel()
	st, _ := newStore(t, pgstore.Options{})
	ctx := t.Context()
	now := t0.Add(time.Hour)

	got, err := st.CountLive(ctx, now)
	if err != nil || got == nil || len(got) != 0 {
		t.Fatalf("CountLive on an empty store = %v, %v; want an empty map, nil", got, err)
	}

	mk := func(strategy sessiond.Strategy, change func(*sessiond.Session)) {
		t.Helper()
		s := newSession("alice", t0)
		s.Strategy = strategy
		s.IdleExpiresAt = now.Add(time.Minute)
		if change != nil {
			change(s)
		}
		if err := st.Create(ctx, s); err != nil {
			t.Fatalf("Create() = %v; want nil", err)
		}
	}
	for range 3 {
		mk(sessiond.StrategyHybrid, nil)
	}
	for range 2 {
		mk(sessiond.StrategyDatabase, nil)
	}
	// None of these is live at now.
	mk(sessiond.StrategyHybrid, func(s *sessiond.Session) { s.RevokedAt, s.RevokeReason = t0, sessiond.ReasonLogout })
	mk(sessiond.StrategyDatabase, func(s *sessiond.Session) { s.ExpiresAt = now })
	mk(sessiond.StrategyHybrid, func(s *sessiond.Session) { s.IdleExpiresAt = now })
	mk(sessiond.StrategyJWT, func(s *sessiond.Session) { s.IdleExpiresAt = now.Add(-time.Second) })

	got, err = st.CountLive(ctx, now)
	want := map[sessiond.Strategy]int{sessiond.StrategyHybrid: 3, sessiond.StrategyDatabase: 2}
	if err != nil || !maps.Equal(got, want) {
		t.Errorf("CountLive(%v) = %v, %v; want %v, nil", now, got, err, want)
	}
	// Later, only the absolute expiry (8 hours) remains to pass.
	if got, err := st.CountLive(ctx, t0.Add(8*time.Hour)); err != nil || len(got) != 0 {
		t.Errorf("CountLive after every expiry = %v, %v; want none", got, err)
	}
	if _, _, err := st.RevokeMatching(ctx, sessiond.RevokeFilter{All: true}, now, sessiond.ReasonIncident); err != nil {
		t.Fatalf("RevokeMatching(all) = %v; want nil", err)
	}
	if got, err := st.CountLive(ctx, now); err != nil || len(got) != 0 {
		t.Errorf("CountLive after RevokeMatching(all) = %v, %v; want none", got, err)
	}
}
