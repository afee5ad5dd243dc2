package sessiond

import (
	"context"
	"sync"
	"time"
)

// CounterMemory is a WindowCounter in one process's memory: correct for a
// single node only. The zero value is ready to use and safe for concurrent
// use. Ended windows are swept at most once a minute, on the way, and
// again at once when the caller's clock has stepped back more than a
// minute behind the last sweep.
type CounterMemory struct {
	mu   sync.Mutex
	m    map[string]counterWindow
	next time.Time // next sweep of ended windows
}

// counterSweepEvery is how often, by the caller's clock, CounterMemory
// sweeps ended windows; a sweep removes only windows that ended
// counterSweepMargin before the caller's now (callers whose clocks differ,
// or a clock stepped forward and back, keep a window they still count in).
const (
	counterSweepEvery  = time.Minute
	counterSweepMargin = time.Minute
)

type counterWindow struct {
	count int64
	reset time.Time
}

var _ WindowCounter = (*CounterMemory)(nil)

// Incr implements WindowCounter.
func (c *CounterMemory) Incr(_ context.Context, key string, now time.Time, window time.Duration) (int64, time.Time, error) {
	if err := CheckCounter(key, window); err != nil {
		return 0, time.Time{}, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = map[string]counterWindow{}
	}
	// A clock stepped back would otherwise pause sweeps until it caught up
	// with next, memory growing meanwhile; the minute's slack spares
	// callers whose now was taken just before the last sweep's.
	if !now.Before(c.next) || now.Before(c.next.Add(-2*counterSweepEvery)) {
		for k, w := range c.m {
			if !now.Before(w.reset.Add(counterSweepMargin)) {
				delete(c.m, k)
			}
		}
		c.next = now.Add(counterSweepEvery)
	}
	w := c.m[key]
	if !now.Before(w.reset) {
		w = counterWindow{reset: now.Add(window)}
	}
	w.count++
	c.m[key] = w
	return w.count, w.reset, nil
}

// Len returns how many windows are kept, ended ones not yet swept included.
func (c *CounterMemory) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.m)
}
