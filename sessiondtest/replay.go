package sessiondtest

import (
	"sync"
	"testing"
	"time"

	"github.com/sessiond/sessiond"
)

// TestReplayGuard checks sessiond.ReplayGuard, failing at once if newStore's
// stores do not implement it. TestStore runs it when they do.
func TestReplayGuard(t *testing.T, newStore func(t *testing.T) sessiond.Store) {
	runSuite(t, newStore, []subtest[sessiond.ReplayGuard]{
		{"Once", replayOnce},
		{"ConcurrentOnce", replayConcurrentOnce},
	})
}

func replayOnce(t *testing.T, f *fixture, g sessiond.ReplayGuard) {
	now := time.Now()
	until := now.Add(time.Hour)
	for i, want := range []bool{true, false, false} {
		fresh, err := g.RememberOnce(f.ctx, "jti-a", now, until)
		if err != nil || fresh != want {
			t.Fatalf("RememberOnce(jti-a) #%d = %v, %v; want %v", i+1, fresh, err, want)
		}
	}
	if fresh, err := g.RememberOnce(f.ctx, "jti-b", now, until); err != nil || !fresh {
		t.Fatalf("RememberOnce(jti-b) = %v, %v; keys are not independent", fresh, err)
	}
}

func replayConcurrentOnce(t *testing.T, f *fixture, g sessiond.ReplayGuard) {
	now := time.Now()
	var wg sync.WaitGroup
	var mu sync.Mutex
	wins := 0
	for range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			fresh, err := g.RememberOnce(f.ctx, "jti-race", now, now.Add(time.Hour))
			if err != nil {
				t.Error(err)
			}
			mu.Lock()
			defer mu.Unlock()
			if fresh {
				wins++
			}
		}()
	}
	wg.Wait()
	if wins != 1 {
		t.Fatalf("%d of 20 concurrent RememberOnce calls were fresh; want 1", wins)
	}
}
