package sessiondtest

import (
	"fmt"
	"testing"
	"time"

	"github.com/sessiond/sessiond"
)

// TestLiveCounter checks sessiond.LiveCounter (the active-sessions gauge),
// failing at once if newStore's stores do not implement it. TestStore runs
// it when they do.
func TestLiveCounter(t *testing.T, newStore func(t *testing.T) sessiond.Store) {
	runSuite(t, newStore, []subtest[sessiond.LiveCounter]{
		{"ByStrategy", liveByStrategy},
		{"ExpiryExclusive", liveExpiryExclusive},
	})
}

// liveExpiryExclusive: a session is counted up to, not at, either expiry
// (Session.Live), as List and SubjectClients take it.
func liveExpiryExclusive(t *testing.T, f *fixture, lc sessiond.LiveCounter) {
	idle := NewSession("u1", t0) // idle expiry t0+30m
	abs := NewSession("u2", t0)
	abs.ExpiresAt = at(20 * time.Minute) // before its idle expiry
	f.create(clone(idle))
	f.create(clone(abs))
	tests := []struct {
		name string
		now  time.Time
		want int
	}{
		{"a µs before the absolute expiry", abs.ExpiresAt.Add(-time.Microsecond), 2},
		{"at the absolute expiry", abs.ExpiresAt, 1},
		{"a µs before the idle expiry", idle.IdleExpiresAt.Add(-time.Microsecond), 1},
		{"at the idle expiry", idle.IdleExpiresAt, 0},
	}
	for _, tt := range tests {
		got, err := lc.CountLive(f.ctx, tt.now)
		if n := got[sessiond.StrategyDatabase]; err != nil || n != tt.want {
			t.Errorf("CountLive(%s) = %v, %v; want database %d", tt.name, got, err, tt.want)
		}
	}
}

func liveByStrategy(t *testing.T, f *fixture, lc sessiond.LiveCounter) {
	for i, st := range []sessiond.Strategy{sessiond.StrategyDatabase, sessiond.StrategyDatabase, sessiond.StrategyHybrid} {
		s := NewSession(fmt.Sprintf("u%d", i), t0)
		s.Strategy = st
		f.create(s)
	}
	gone := NewSession("u9", t0)
	f.create(clone(gone))
	f.revoke(gone.ID, at(time.Second), sessiond.ReasonLogout)
	got, err := lc.CountLive(f.ctx, at(time.Minute))
	if err != nil || got[sessiond.StrategyDatabase] != 2 || got[sessiond.StrategyHybrid] != 1 || got[sessiond.StrategyJWT] != 0 {
		t.Fatalf("CountLive = %v, %v; want database 2 (one revoked not counted), hybrid 1", got, err)
	}
	if got, _ := lc.CountLive(f.ctx, at(31*time.Minute)); got[sessiond.StrategyDatabase]+got[sessiond.StrategyHybrid] != 0 {
		t.Errorf("CountLive after the idle expiry = %v; want none", got)
	}
}
