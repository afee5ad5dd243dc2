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
	})
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
