package sessiondtest

import (
	"sync"
	"time"

	"github.com/sessiond/sessiond"
)

var _ sessiond.Clock = (*Clock)(nil)

// Clock is a fake sessiond.Clock that moves only when told to, so tests of
// expiry never sleep. It is safe for concurrent use. The zero Clock reads
// the zero time.
type Clock struct {
	mu  sync.Mutex
	now time.Time
}

// NewClock returns a Clock reading t.
func NewClock(t time.Time) *Clock { return &Clock{now: t} }

// Now returns the clock's current time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Advance moves the clock forward by d (backward if d is negative).
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// Set moves the clock to t.
func (c *Clock) Set(t time.Time) {
	c.mu.Lock()
	c.now = t
	c.mu.Unlock()
}

// Offset returns a clock that reads c's time plus d and moves with c:
// the clock of another node, d ahead of c (behind when d is negative),
// for tests of what nodes whose clocks disagree write to one store.
func (c *Clock) Offset(d time.Duration) sessiond.Clock { return offsetClock{c, d} }

type offsetClock struct {
	c *Clock
	d time.Duration
}

func (o offsetClock) Now() time.Time { return o.c.Now().Add(o.d) }
