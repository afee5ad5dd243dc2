package httpapi

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// boundContext is a request's context under its deadline (deadline.go),
// as context.WithDeadline makes it, except that the timer is made only
// once something waits on it: the first Done, a child context, or an Err
// past the deadline or after a cancel. Most requests (a verify answered
// from the cache) make no store call and never wait, and WithDeadline on
// every one cost a timer, a channel, a map entry in the parent and a
// lock: about 4 % of the server's CPU on a verify (docs/PERFORMANCE.md).
// Once made, the timer's context answers everything, so a context seen
// done stays done with the same error. TestBoundContext holds it to
// WithDeadline's answers, but for one it cannot know without a timer: a
// deadline that passed unasked, then the parent canceled (the client
// gone) before the first question, reads context.Canceled where
// WithDeadline's timer had said DeadlineExceeded. Either way the request
// is over; clientGone goes by the parent alone.
//
// It lives inside requestState (no allocation of its own); only the
// request's goroutines use it, but they may be several.
type boundContext struct {
	parent   context.Context
	deadline time.Time

	mu       sync.Mutex  // held to make timer and to set canceled
	canceled atomic.Bool // cancel was called
	timer    atomic.Pointer[boundTimer]
}

type boundTimer struct {
	ctx    context.Context
	cancel context.CancelFunc
}

// started returns the context.WithDeadline the request would have had,
// making it on first use.
func (c *boundContext) started() context.Context {
	if t := c.timer.Load(); t != nil {
		return t.ctx
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if t := c.timer.Load(); t != nil {
		return t.ctx
	}
	ctx, cancel := context.WithDeadline(c.parent, c.deadline)
	if c.canceled.Load() {
		cancel()
	}
	c.timer.Store(&boundTimer{ctx: ctx, cancel: cancel})
	return ctx
}

// Deadline is the bound's: the middleware makes a boundContext only under
// a parent with no deadline or a later one (else WithDeadline's would be
// the parent's; TestMiddleware_RequestDeadline).
func (c *boundContext) Deadline() (time.Time, bool) { return c.deadline, true }

func (c *boundContext) Done() <-chan struct{} { return c.started().Done() }

// Err is nil, without making the timer, while the deadline is ahead, the
// request not canceled and its parent not done.
func (c *boundContext) Err() error {
	if t := c.timer.Load(); t != nil {
		return t.ctx.Err()
	}
	if c.canceled.Load() || c.parent.Err() != nil || !time.Now().Before(c.deadline) {
		return c.started().Err()
	}
	return nil
}

// Value answers as the timer's context once made (so that a child
// context finds it, as it finds WithDeadline's), else as the parent.
func (c *boundContext) Value(key any) any {
	if t := c.timer.Load(); t != nil {
		return t.ctx.Value(key)
	}
	return c.parent.Value(key)
}

// cancel is WithDeadline's CancelFunc: the context is done from now on.
func (c *boundContext) cancel() {
	c.mu.Lock()
	c.canceled.Store(true)
	t := c.timer.Load()
	c.mu.Unlock()
	if t != nil {
		t.cancel()
	}
}
