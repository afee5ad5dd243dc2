package redisstore

import (
	"context"
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
type closeGuard struct {
	rueidis.Client
	closed atomic.Bool
	wake   *feedwake.Waker
}

// answered passes r on, noting first whether Redis answered it.
func (g *closeGuard) answered(r rueidis.RedisResult) rueidis.RedisResult {
	if r.NonRedisError() == nil {
		g.wake.Answered()
	}
	return r
}

func (g *closeGuard) answeredMulti(rs []rueidis.RedisResult) []rueidis.RedisResult {
	if len(rs) > 0 && rs[0].NonRedisError() == nil {
		g.wake.Answered()
	}
	return rs
}

func (g *closeGuard) Do(ctx context.Context, cmd rueidis.Completed) rueidis.RedisResult {
	if g.closed.Load() {
		return rueidis.NewErrorResult(rueidis.ErrClosing)
	}
	return g.answered(g.Client.Do(ctx, cmd))
}

func (g *closeGuard) DoMulti(ctx context.Context, cmds ...rueidis.Completed) []rueidis.RedisResult {
	if g.closed.Load() {
		return closedResults(len(cmds))
	}
	return g.answeredMulti(g.Client.DoMulti(ctx, cmds...))
}

func (g *closeGuard) DoCache(ctx context.Context, cmd rueidis.Cacheable, ttl time.Duration) rueidis.RedisResult {
	if g.closed.Load() {
		return rueidis.NewErrorResult(rueidis.ErrClosing)
	}
	return g.answered(g.Client.DoCache(ctx, cmd, ttl))
}

func (g *closeGuard) DoMultiCache(ctx context.Context, multi ...rueidis.CacheableTTL) []rueidis.RedisResult {
	if g.closed.Load() {
		return closedResults(len(multi))
	}
	return g.answeredMulti(g.Client.DoMultiCache(ctx, multi...))
}

func (g *closeGuard) Close() {
	g.closed.Store(true)
	g.Client.Close()
}

func closedResults(n int) []rueidis.RedisResult {
	res := make([]rueidis.RedisResult, n)
	for i := range res {
		res[i] = rueidis.NewErrorResult(rueidis.ErrClosing)
	}
	return res
}
