package sessiond_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/sessiond/sessiond"
)

func TestReplayMemory(t *testing.T) {
	ctx := context.Background()
	t0 := time.Date(2031, 1, 1, 0, 0, 0, 0, time.UTC)
	var m sessiond.ReplayMemory
	for _, step := range []struct {
		name      string
		key       string
		now       time.Time
		wantFresh bool
	}{
		{"first use", "a", t0, true},
		{"replay before expiry", "a", t0.Add(30 * time.Second), false},
		{"other key", "b", t0.Add(30 * time.Second), true},
		{"after expiry", "a", t0.Add(2 * time.Minute), true},
	} {
		fresh, err := m.RememberOnce(ctx, step.key, step.now, step.now.Add(time.Minute))
		if err != nil || fresh != step.wantFresh {
			t.Fatalf("%s: RememberOnce(%q) = %v, %v; want %v", step.name, step.key, fresh, err, step.wantFresh)
		}
	}
	// The sweep at t0+2m dropped b (expired at t0+1m30s); a remains.
	if n := m.Len(); n != 1 {
		t.Errorf("Len() = %d after the sweep; want 1", n)
	}
}

// TestReplayMemory_EmptyKey: as every store's (sessiondtest's EmptyKey),
// an empty key is ErrInvalidArgument and records nothing: a node whose
// DPoP, DBSC or SSF replay guard is this one's default must not refuse
// what a node on a store's guard refuses otherwise.
func TestReplayMemory_EmptyKey(t *testing.T) {
	now := time.Date(2031, 1, 1, 0, 0, 0, 0, time.UTC)
	var m sessiond.ReplayMemory
	for i := range 2 {
		fresh, err := m.RememberOnce(context.Background(), "", now, now.Add(time.Hour))
		if fresh || !errors.Is(err, sessiond.ErrInvalidArgument) {
			t.Errorf("RememberOnce(\"\") #%d = %v, %v; want false, ErrInvalidArgument", i+1, fresh, err)
		}
	}
	if n := m.Len(); n != 0 {
		t.Errorf("Len() = %d after empty keys; want 0", n)
	}
}

func TestReplayMemory_ConcurrentOnce(t *testing.T) {
	var m sessiond.ReplayMemory
	now := time.Now()
	var wg sync.WaitGroup
	var mu sync.Mutex
	fresh := 0
	for range 32 {
		wg.Go(func() {
			ok, err := m.RememberOnce(context.Background(), "jti", now, now.Add(time.Minute))
			if err != nil {
				t.Error(err)
			}
			if ok {
				mu.Lock()
				fresh++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if fresh != 1 {
		t.Errorf("%d of 32 concurrent RememberOnce calls were fresh; want 1", fresh)
	}
}
