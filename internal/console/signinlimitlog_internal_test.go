package console

import (
	"fmt"
	"sync"
	"testing"
	"time"
)

// TestFoldedWarn_ManyAddresses: sign-ins refused from ever new addresses
// write at most signInWarnMax lines a window, and the map of addresses
// holds those of the last windows only, however many come.
func TestFoldedWarn_ManyAddresses(t *testing.T) {
	var f foldedWarn
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for w := range 5 {
		lines := 0
		for i := range 1000 {
			if ok, _ := f.warn(fmt.Sprintf("198.51.%d.%d", w, i), now.Add(time.Duration(i)*time.Millisecond)); ok {
				lines++
			}
		}
		if lines != signInWarnMax {
			t.Errorf("window %d: %d lines for 1000 addresses; want %d", w, lines, signInWarnMax)
		}
		if n := len(f.keys); n > 3*signInWarnMax {
			t.Errorf("window %d: %d addresses held; want at most %d (those of the last windows' lines)", w, n, 3*signInWarnMax)
		}
		now = now.Add(signInWarnWindow)
	}
}

// TestFoldedWarn_Concurrent: one address refused from many goroutines at
// once writes one line, and the next, a window later, counts every other
// refusal.
func TestFoldedWarn_Concurrent(t *testing.T) {
	var f foldedWarn
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		lines int
	)
	for range 8 {
		wg.Go(func() {
			for range 100 {
				if ok, _ := f.warn("2001:db8::/64", now); ok {
					mu.Lock()
					lines++
					mu.Unlock()
				}
			}
		})
	}
	wg.Wait()
	if lines != 1 {
		t.Errorf("%d lines for 800 concurrent refusals of one address; want 1", lines)
	}
	if ok, repeated := f.warn("2001:db8::/64", now.Add(signInWarnWindow)); !ok || repeated != 799 {
		t.Errorf("a window later: warn = %v, repeated %d; want true, 799", ok, repeated)
	}
}
