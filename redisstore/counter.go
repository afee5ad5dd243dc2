package redisstore

import (
	"context"
	"time"

	"github.com/redis/rueidis"

	"github.com/sessiond/sessiond"
)

var _ sessiond.WindowCounter = (*Store)(nil)

// counterKey is a WindowCounter key: a hash of the count (c) and the end of
// the window in µs (r), with Redis's own expiry, so nothing has to sweep it.
func (s *Store) counterKey(key string) string { return s.prefix + ":count:" + key }

// incrScript counts one in KEYS[1]'s window, starting a new one when there
// is none or it has ended. ARGV: now µs, the new window's end µs, its
// length in ms (the key's time to live, by Redis's clock: the window's
// end decides by the caller's).
var incrScript = rueidis.NewLuaScript(`
local r = redis.call('HGET', KEYS[1], 'r')
if not r or tonumber(r) <= tonumber(ARGV[1]) then
  redis.call('HSET', KEYS[1], 'c', 1, 'r', ARGV[2])
  redis.call('PEXPIRE', KEYS[1], ARGV[3])
  return {1, ARGV[2]}
end
return {redis.call('HINCRBY', KEYS[1], 'c', 1), r}
`)

// Incr implements sessiond.WindowCounter with one script: Redis counts
// concurrent callers of any node one at a time.
func (s *Store) Incr(ctx context.Context, key string, now time.Time, window time.Duration) (int64, time.Time, error) {
	const op = "incr"
	if err := ctxErr(ctx, op, sessiond.CheckCounter(key, window)); err != nil {
		return 0, time.Time{}, err
	}
	ttl := window.Milliseconds() + 1000 // a second past the window: clocks differ
	reply, err := incrScript.Exec(ctx, s.client, []string{s.counterKey(key)},
		[]string{encTime(now), encTime(now.Add(window)), itoa(ttl)}).ToArray()
	if err != nil {
		return 0, time.Time{}, s.fail(op, err)
	}
	if len(reply) != 2 {
		return 0, time.Time{}, s.fail(op, errCorrupt)
	}
	n, err := reply[0].AsInt64()
	if err != nil {
		return 0, time.Time{}, s.fail(op, err)
	}
	rs, err := reply[1].ToString()
	if err != nil {
		return 0, time.Time{}, s.fail(op, err)
	}
	reset, err := decTime(rs)
	if err != nil || reset.IsZero() {
		return 0, time.Time{}, s.fail(op, errCorrupt)
	}
	return n, reset, nil
}
