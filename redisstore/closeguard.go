package redisstore

import (
	"context"
	"sync/atomic"
	"time"

	"github.com/redis/rueidis"
)

// closeGuard refuses every command once Close has begun. A rueidis cluster
// client closes its node connections in the background, so a command sent
// right after Close may still reach Redis and change data; the store's
// contract is that nothing after Close does.
type closeGuard struct {
	rueidis.Client
	closed atomic.Bool
}

func (g *closeGuard) Do(ctx context.Context, cmd rueidis.Completed) rueidis.RedisResult {
	if g.closed.Load() {
		return rueidis.NewErrorResult(rueidis.ErrClosing)
	}
	return g.Client.Do(ctx, cmd)
}

func (g *closeGuard) DoMulti(ctx context.Context, cmds ...rueidis.Completed) []rueidis.RedisResult {
	if g.closed.Load() {
		return closedResults(len(cmds))
	}
	return g.Client.DoMulti(ctx, cmds...)
}

func (g *closeGuard) DoCache(ctx context.Context, cmd rueidis.Cacheable, ttl time.Duration) rueidis.RedisResult {
	if g.closed.Load() {
		return rueidis.NewErrorResult(rueidis.ErrClosing)
	}
	return g.Client.DoCache(ctx, cmd, ttl)
}

func (g *closeGuard) DoMultiCache(ctx context.Context, multi ...rueidis.CacheableTTL) []rueidis.RedisResult {
	if g.closed.Load() {
		return closedResults(len(multi))
	}
	return g.Client.DoMultiCache(ctx, multi...)
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
