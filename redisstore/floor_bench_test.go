package redisstore_test

// The floor of a write on Redis, for issue 11's target 2 (a Redis store at
// 0.8 × the memory store over HTTP): what the driver and Redis cost for
// the least a login or a refresh could write, with none of the store's
// checks or expiries, measured like BenchmarkCreateRecordedParallel
// and BenchmarkSwapRefreshRecordedParallel (about 32 goroutines; Redis's
// CPU from INFO, this process's from getrusage):
//
//	SESSIOND_TEST_REDIS_URL=redis://127.0.0.1:6379/0 go test -run '^$' -bench 'Floor|Recorded' -count 3 ./redisstore/
//
// ping is one round trip doing nothing. refresh is one script writing what
// a rotating refresh must (the successor token, the retired one, the
// session's activity, the event), each as one plain key; refresh-indexed
// adds the indexes the store keeps (floorRefreshIndexed); login writes a
// session, its token and its event, login-indexed adds the indexes the
// store keeps (floorLoginIndexed). Each goroutine has indexes of its own,
// smaller than the store's global ones: a floor.

import (
	"context"
	"fmt"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/rueidis"

	"github.com/sessiond/sessiond/internal/testenv"
)

// floorRefresh: the four writes of a rotating refresh and nothing else.
var floorRefresh = rueidis.NewLuaScript(`
redis.call('HSET', KEYS[1], 'sid', ARGV[1], 'exp', ARGV[2])
redis.call('HSET', KEYS[2], 'retired', ARGV[3])
redis.call('HSET', KEYS[3], 'last_active', ARGV[3], 'idle_expires', ARGV[2])
redis.call('SET', KEYS[4], ARGV[4])
return 1`)

// floorLogin: a session, its refresh token and its event.
var floorLogin = rueidis.NewLuaScript(`
redis.call('HSET', KEYS[1], 'subject', ARGV[1], 'created', ARGV[2], 'last_active', ARGV[2], 'idle_expires', ARGV[3], 'expires', ARGV[3], 'client', ARGV[4])
redis.call('HSET', KEYS[2], 'sid', ARGV[5], 'exp', ARGV[3])
redis.call('SET', KEYS[3], ARGV[6])
return 1`)

// floorRefreshIndexed adds what the store's layout keeps beside the
// session hash (docs/redisstore.md): the successor's global uniqueness
// key, the session's collector and live-set entries (moved, as a refresh
// moves them), and the event as a
// hash in its indexes (by ID, subject, session and type). KEYS: successor,
// old token, session, event, then the global token key, gc, live, ids,
// subject, session and type indexes.
var floorRefreshIndexed = rueidis.NewLuaScript(`
if redis.call('SET', KEYS[5], ARGV[1], 'NX') == false then return 0 end
redis.call('HSET', KEYS[1], 'sid', ARGV[1], 'exp', ARGV[2])
redis.call('HSET', KEYS[2], 'retired', ARGV[3])
redis.call('HSET', KEYS[3], 'last_active', ARGV[3], 'idle_expires', ARGV[2])
redis.call('ZADD', KEYS[6], ARGV[2], ARGV[1])
redis.call('ZADD', KEYS[7], ARGV[2], ARGV[1])
redis.call('HSET', KEYS[4], 'type', 'session.refreshed', 'subject', 'bench', 'session_id', ARGV[1], 'time', ARGV[3], 'body', ARGV[4])
for i = 8, 11 do redis.call('ZADD', KEYS[i], 0, KEYS[4]) end
return 1`)

// floorLoginIndexed is floorLogin in the store's layout: the global
// uniqueness keys of the session ID and the token, the subject index, the
// collector and live sets, and the event in its indexes. KEYS: session,
// token, event, the global session and token keys, subject, gc, live,
// ids, event subject, event session and event type indexes.
var floorLoginIndexed = rueidis.NewLuaScript(`
if redis.call('SET', KEYS[4], ARGV[5], 'NX') == false then return 0 end
if redis.call('SET', KEYS[5], ARGV[5], 'NX') == false then return 0 end
redis.call('HSET', KEYS[1], 'subject', ARGV[1], 'strategy', 'hybrid', 'created', ARGV[2], 'last_active', ARGV[2], 'idle_expires', ARGV[3], 'expires', ARGV[3], 'client', ARGV[4], 't:' .. KEYS[2], ARGV[3])
redis.call('HSET', KEYS[2], 'sid', ARGV[5], 'exp', ARGV[3])
redis.call('ZADD', KEYS[6], ARGV[2], ARGV[5])
redis.call('ZADD', KEYS[7], ARGV[3], ARGV[5])
redis.call('ZADD', KEYS[8], ARGV[3], ARGV[5])
redis.call('HSET', KEYS[3], 'type', 'session.created', 'subject', ARGV[1], 'session_id', ARGV[5], 'time', ARGV[2], 'body', ARGV[6])
for i = 9, 12 do redis.call('ZADD', KEYS[i], 0, KEYS[3]) end
return 1`)

// floorEvent is about the size of a stored session.refreshed event.
const floorEvent = `{"id":"0197a3c2e1f04b6a8c1d2e3f4a5b6c7d","time":"2026-12-04T17:30:00.123456Z","type":"session.refreshed","subject":"bench-12","session_id":"s_0197a3c2e1f04b6a8c1d2e3f4a","client":{"ip":"203.0.113.7","user_agent":"sessiond-bench"},"details":{"api_key_id":"key_bench"}}`

// wrote: the floor's scripts answer 1 when they wrote everything.
func wrote(r rueidis.RedisResult) error {
	if n, err := r.AsInt64(); err != nil || n != 1 {
		return fmt.Errorf("script = %d, %v; want 1", n, err)
	}
	return nil
}

func BenchmarkFloorParallel(b *testing.B) {
	c := rawClient(b)
	prefix := randomPrefix()
	var runs atomic.Int64
	b.Cleanup(func() { wipe(b, redisURL(b), prefix) })
	ctx := context.Background()
	ops := []struct {
		name string
		op   func(g, i int64) error
	}{
		{"ping", func(int64, int64) error { return c.Do(ctx, c.B().Ping().Build()).Error() }},
		{"login", func(g, i int64) error {
			tag := prefix + ":{" + strconv.FormatInt(g, 10) + "-" + strconv.FormatInt(i, 10) + "}"
			now := strconv.FormatInt(time.Now().UnixMicro(), 10)
			return wrote(floorLogin.Exec(ctx, c, []string{tag + ":s", tag + ":t", tag + ":e"},
				[]string{"bench-" + strconv.FormatInt(g, 10), now, now, `{"ip":"203.0.113.7","user_agent":"sessiond-bench"}`, tag, floorEvent}))
		}},
		{"login-indexed", func(g, i int64) error {
			sess := strconv.FormatInt(g, 10) + "-" + strconv.FormatInt(i, 10)
			tag, gt := prefix+":{"+sess+"}", prefix+":{"+strconv.FormatInt(g, 10)+"}"
			now := strconv.FormatInt(time.Now().UnixMicro(), 10)
			return wrote(floorLoginIndexed.Exec(ctx, c, []string{tag + ":s", tag + ":t", tag + ":e", tag + ":g:s", tag + ":g:t",
				gt + ":subj", gt + ":gc", gt + ":live", gt + ":ids", gt + ":esubj", tag + ":esess", gt + ":etype"},
				[]string{"bench-" + strconv.FormatInt(g, 10), now, now, `{"ip":"203.0.113.7","user_agent":"sessiond-bench"}`, gt, floorEvent}))
		}},
		{"refresh-indexed", func(g, i int64) error {
			tag := prefix + ":{" + strconv.FormatInt(g, 10) + "}"
			n, now := strconv.FormatInt(i, 10), strconv.FormatInt(time.Now().UnixMicro(), 10)
			return wrote(floorRefreshIndexed.Exec(ctx, c, []string{tag + ":t" + n, tag + ":t" + strconv.FormatInt(i-1, 10), tag + ":s", tag + ":e" + n,
				tag + ":g:t" + n, tag + ":gc", tag + ":live", tag + ":ids", tag + ":subj", tag + ":sess", tag + ":type"},
				[]string{tag, now, now, floorEvent}))
		}},
		{"refresh", func(g, i int64) error {
			tag := prefix + ":{" + strconv.FormatInt(g, 10) + "}"
			n, now := strconv.FormatInt(i, 10), strconv.FormatInt(time.Now().UnixMicro(), 10)
			return wrote(floorRefresh.Exec(ctx, c, []string{tag + ":t" + n, tag + ":t" + strconv.FormatInt(i-1, 10), tag + ":s", tag + ":e" + n},
				[]string{tag, now, now, floorEvent}))
		}},
	}
	for _, o := range ops {
		b.Run(o.name, func(b *testing.B) {
			// Each run of the function (b.N grows) numbers its goroutines
			// in a range of its own, so no key is written twice and the
			// indexed scripts' SET NX never refuses.
			var goroutines atomic.Int64
			goroutines.Store(runs.Add(1) << 20)
			b.SetParallelism(parallelism())
			defer testenv.ReportClientCPU(b)()
			defer reportRedisCPU(b)()
			b.RunParallel(func(pb *testing.PB) {
				g := goroutines.Add(1)
				for i := int64(1); pb.Next(); i++ {
					if err := o.op(g, i); err != nil {
						b.Errorf("%s: %v", o.name, err)
						return
					}
				}
			})
		})
	}
}
