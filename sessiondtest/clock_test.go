package sessiondtest_test

import (
	"sync"
	"testing"
	"time"

	"github.com/sessiond/sessiond/sessiondtest"
)

func TestClock(t *testing.T) {
	start := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	c := sessiondtest.NewClock(start)
	if got := c.Now(); !got.Equal(start) {
		t.Errorf("Now() = %v; want %v", got, start)
	}
	c.Advance(90 * time.Second)
	if got, want := c.Now(), start.Add(90*time.Second); !got.Equal(want) {
		t.Errorf("after Advance(90s), Now() = %v; want %v", got, want)
	}
	later := start.Add(24 * time.Hour)
	c.Set(later)
	if got := c.Now(); !got.Equal(later) {
		t.Errorf("after Set(%v), Now() = %v; want %v", later, got, later)
	}
}

func TestClock_Concurrent(t *testing.T) {
	start := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	c := sessiondtest.NewClock(start)
	var wg sync.WaitGroup
	for range 100 {
		wg.Go(func() {
			c.Advance(time.Second)
			_ = c.Now()
		})
	}
	wg.Wait()
	if got, want := c.Now(), start.Add(100*time.Second); !got.Equal(want) {
		t.Errorf("after 100 concurrent Advance(1s), Now() = %v; want %v", got, want)
	}
}

func TestClock_Offset(t *testing.T) {
	start := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	c := sessiondtest.NewClock(start)
	ahead, behind := c.Offset(3*time.Second), c.Offset(-time.Minute)
	c.Advance(time.Hour)
	for _, tc := range []struct {
		name string
		got  time.Time
		want time.Time
	}{
		{"ahead", ahead.Now(), start.Add(time.Hour + 3*time.Second)},
		{"behind", behind.Now(), start.Add(time.Hour - time.Minute)},
	} {
		if !tc.got.Equal(tc.want) {
			t.Errorf("%s: Now() after Advance(1h) = %v; want %v", tc.name, tc.got, tc.want)
		}
	}
}
