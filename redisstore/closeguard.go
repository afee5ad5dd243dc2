package redisstore

import (
	"context"
	"crypto/tls"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/rueidis"

	"github.com/sessiond/sessiond/internal/feedwake"
)

// closeGuard refuses every command once Close has begun. A rueidis cluster
// client closes its node connections in the background, so a command sent
// right after Close may still reach Redis and change data; the store's
// contract is that nothing after Close does.
//
// It also tells wake of every command Redis answered (a Redis error is an
// answer too), so a revocation feed waiting out its reconnect backoff
// resubscribes as soon as Redis is back: one atomic load per command
// while every feed is subscribed.
//
// And it returns a call whose context has a deadline once the context
// ends, while Redis is not answering: rueidis makes a call wait, whatever
// its context, while another caller (a background loop without a
// deadline) reopens the connection it needs, up to the dial timeout (5 s)
// against a frozen Redis (redis/rueidis#683, not fixed in v1.0.80), which
// put serve's answer past server.write_timeout. Such a call runs in a
// goroutine of its own, left to end by itself (Close waits for it); only
// after a call went unanswered or a connection began to open (dialer:
// rueidis's keepalive may have closed a silent connection to a frozen
// Redis, with no call to see it), until the next answer, so a healthy
// Redis costs one more atomic load per command.
type closeGuard struct {
	rueidis.Client
	closed atomic.Bool
	wake   *feedwake.Waker
	// unanswered: the last call to end ended without Redis's answer (a
	// broken connection, a deadline), or a connection began to open
	// since.
	unanswered atomic.Bool
	// abandoned are the calls run apart (bounded), which may outlive
	// their caller; mu orders their Add before Close's Wait.
	mu        sync.Mutex
	abandoned sync.WaitGroup
}

// answered passes r on, noting first whether Redis answered it.
func (g *closeGuard) answered(r rueidis.RedisResult) rueidis.RedisResult {
	g.note(r.NonRedisError() == nil)
	return r
}

func (g *closeGuard) answeredMulti(rs []rueidis.RedisResult) []rueidis.RedisResult {
	if len(rs) > 0 {
		g.note(rs[0].NonRedisError() == nil)
	}
	return rs
}

// note records whether Redis answered a call. It writes unanswered only
// when it changes, so that concurrent calls to a healthy Redis only read
// it.
func (g *closeGuard) note(answered bool) {
	if answered {
		if g.unanswered.Load() {
			g.unanswered.Store(false)
		}
		g.wake.Answered()
		return
	}
	if !g.unanswered.Load() {
		g.unanswered.Store(true)
	}
}

// dialFn is rueidis's ClientOption.DialCtxFn.
type dialFn = func(ctx context.Context, dst string, d *net.Dialer, tc *tls.Config) (net.Conn, error)

// dialer returns the ClientOption.DialCtxFn that opens each connection with
// next (the URL's own: unix:// has one), or as rueidis itself would, and
// first notes that Redis has not answered on it yet: until it does, a
// call that needs the connection waits for its opener, whose handshake
// may wait up to the dial timeout. Dials are rare on a healthy Redis (at
// start, a connection for a blocking command); the call answered next
// clears the note.
func (g *closeGuard) dialer(next dialFn) dialFn {
	if next == nil {
		next = func(ctx context.Context, dst string, d *net.Dialer, tc *tls.Config) (net.Conn, error) {
			if tc != nil {
				return (&tls.Dialer{NetDialer: d, Config: tc}).DialContext(ctx, "tcp", dst)
			}
			return d.DialContext(ctx, "tcp", dst)
		}
	}
	return func(ctx context.Context, dst string, d *net.Dialer, tc *tls.Config) (net.Conn, error) {
		g.note(false)
		return next(ctx, dst, d, tc)
	}
}

// bounded reports whether a call on ctx is to return when ctx ends rather
// than when rueidis does: while Redis is not answering, on a context with
// a deadline (one without has nothing to return by).
func (g *closeGuard) bounded(ctx context.Context) bool {
	if !g.unanswered.Load() {
		return false
	}
	_, ok := ctx.Deadline()
	return ok
}

// by runs call in a goroutine and returns its results, or cut of ctx's
// error once ctx ends first (cut of ErrClosing once g is closed).
func by[T any](ctx context.Context, g *closeGuard, call func() T, cut func(error) T) T {
	g.mu.Lock()
	if g.closed.Load() {
		g.mu.Unlock()
		return cut(rueidis.ErrClosing)
	}
	g.abandoned.Add(1)
	g.mu.Unlock()
	done := make(chan T, 1)
	go func() {
		defer g.abandoned.Done()
		done <- call()
	}()
	select {
	case r := <-done:
		return r
	case <-ctx.Done():
	}
	select {
	case r := <-done: // ended at the same moment: its own results
		return r
	default:
		return cut(ctx.Err())
	}
}

func (g *closeGuard) Do(ctx context.Context, cmd rueidis.Completed) rueidis.RedisResult {
	if g.closed.Load() {
		return rueidis.NewErrorResult(rueidis.ErrClosing)
	}
	if g.bounded(ctx) {
		return by(ctx, g, func() rueidis.RedisResult { return g.answered(g.Client.Do(ctx, cmd)) }, rueidis.NewErrorResult)
	}
	return g.answered(g.Client.Do(ctx, cmd))
}

func (g *closeGuard) DoMulti(ctx context.Context, cmds ...rueidis.Completed) []rueidis.RedisResult {
	if g.closed.Load() {
		return closedResults(len(cmds))
	}
	if g.bounded(ctx) {
		return by(ctx, g, func() []rueidis.RedisResult { return g.answeredMulti(g.Client.DoMulti(ctx, cmds...)) },
			func(err error) []rueidis.RedisResult { return errorResults(len(cmds), err) })
	}
	return g.answeredMulti(g.Client.DoMulti(ctx, cmds...))
}

func (g *closeGuard) DoCache(ctx context.Context, cmd rueidis.Cacheable, ttl time.Duration) rueidis.RedisResult {
	if g.closed.Load() {
		return rueidis.NewErrorResult(rueidis.ErrClosing)
	}
	if g.bounded(ctx) {
		return by(ctx, g, func() rueidis.RedisResult { return g.answered(g.Client.DoCache(ctx, cmd, ttl)) }, rueidis.NewErrorResult)
	}
	return g.answered(g.Client.DoCache(ctx, cmd, ttl))
}

func (g *closeGuard) DoMultiCache(ctx context.Context, multi ...rueidis.CacheableTTL) []rueidis.RedisResult {
	if g.closed.Load() {
		return closedResults(len(multi))
	}
	if g.bounded(ctx) {
		return by(ctx, g, func() []rueidis.RedisResult { return g.answeredMulti(g.Client.DoMultiCache(ctx, multi...)) },
			func(err error) []rueidis.RedisResult { return errorResults(len(multi), err) })
	}
	return g.answeredMulti(g.Client.DoMultiCache(ctx, multi...))
}

// Close closes the client, then waits for the calls left running (each
// ends by the dial timeout at the latest).
func (g *closeGuard) Close() {
	g.mu.Lock()
	g.closed.Store(true)
	g.mu.Unlock()
	g.Client.Close()
	g.abandoned.Wait()
}

func closedResults(n int) []rueidis.RedisResult { return errorResults(n, rueidis.ErrClosing) }

func errorResults(n int, err error) []rueidis.RedisResult {
	res := make([]rueidis.RedisResult, n)
	for i := range res {
		res[i] = rueidis.NewErrorResult(err)
	}
	return res
}
