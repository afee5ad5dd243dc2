package server

import (
	"context"
	"testing"
	"time"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/sessiondtest"
)

// countingLive counts CountLive calls and records the time it was asked about.
type countingLive struct {
	calls int
	asked time.Time
}

func (c *countingLive) CountLive(_ context.Context, now time.Time) (map[sessiond.Strategy]int, error) {
	c.calls++
	c.asked = now
	return map[sessiond.Strategy]int{sessiond.StrategyHybrid: c.calls}, nil
}

// TestLiveCounts_CachesOnTheInjectedClock: the live-session gauge asks the
// store at most once per 15 s of the injected clock, and asks about the
// clock's time, not the wall clock's.
func TestLiveCounts_CachesOnTheInjectedClock(t *testing.T) {
	t0 := time.Date(2031, 1, 2, 3, 4, 5, 0, time.UTC)
	clock := sessiondtest.NewClock(t0)
	store := &countingLive{}
	l := &liveCounts{counter: store, clock: clock}
	ctx := context.Background()
	for _, step := range []struct {
		advance   time.Duration
		wantCalls int
	}{
		{0, 1},
		{14 * time.Second, 1},
		{time.Second, 2},
		{5 * time.Second, 2},
	} {
		clock.Advance(step.advance)
		got, err := l.get(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if store.calls != step.wantCalls || got[sessiond.StrategyHybrid] != step.wantCalls {
			t.Fatalf("after %v: %d store calls, gauge %v; want %d", clock.Now().Sub(t0), store.calls, got, step.wantCalls)
		}
		if !store.asked.Before(t0.Add(time.Minute)) || store.asked.Before(t0) {
			t.Fatalf("CountLive asked about %v; want the injected clock's time near %v", store.asked, t0)
		}
	}
}
