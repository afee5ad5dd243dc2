package redisstore

import (
	"context"
	"strconv"
	"time"

	"github.com/redis/rueidis"

	"github.com/sessiond/sessiond"
)

var (
	_ sessiond.ReplayGuard      = (*Store)(nil)
	_ sessiond.AckedReplayGuard = (*Store)(nil)
)

// onceKey is a ReplayGuard key: a plain string with Redis's own expiry, so
// nothing has to sweep it.
func (s *Store) onceKey(key string) string { return s.prefix + ":once:" + key }

// onceScript records a one-time key with SET NX, keeping it until the
// later of until by Redis's clock and until-now from Redis's now: until
// was read on the caller's clock, which may be behind Redis's (the record
// would expire early by the gap, and a replay pass) or ahead (until by
// Redis's clock then keeps it for nodes that agree with Redis). Nil when
// the key is already there.
//
//	KEYS: the key
//	ARGV: until (unix ms, the caller's clock), until - now (ms, > 0)
var onceScript = newPairedScript(`
local t = redis.call('TIME')
local at = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) + tonumber(ARGV[2])
if tonumber(ARGV[1]) > at then at = tonumber(ARGV[1]) end
return redis.call('SET', KEYS[1], '1', 'NX', 'PXAT', string.format('%d', at))
`)

// RememberOnce implements sessiond.ReplayGuard with one script around a
// SET NX (onceScript): Redis decides atomically which of concurrent
// callers on any node is first.
func (s *Store) RememberOnce(ctx context.Context, key string, now, until time.Time) (bool, error) {
	return s.rememberOnce(ctx, "remember once", key, now, until, false)
}

// RememberOnceAcked implements sessiond.AckedReplayGuard: the script
// of RememberOnce followed, on the same connection, by the WAIT a
// revocation waits (Options.RevocationReplicas, RevocationWait). A wait
// that falls short is logged and counted (UnackedRevocations), not an
// error: the record holds on the master. A key already recorded is
// answered false after one EXISTS, without the SET and its wait.
func (s *Store) RememberOnceAcked(ctx context.Context, key string, now, until time.Time) (bool, error) {
	return s.rememberOnce(ctx, "remember once acked", key, now, until, true)
}

func (s *Store) rememberOnce(ctx context.Context, op, key string, now, until time.Time, acked bool) (bool, error) {
	if err := ctxErr(ctx, op, sessiond.CheckReplayKey(key)); err != nil {
		return false, err
	}
	if !until.After(now) {
		until = now.Add(time.Millisecond)
	}
	k := s.onceKey(key)
	set := rueidis.LuaExec{Keys: []string{k}, Args: []string{
		strconv.FormatInt(expiryMS(until), 10),
		strconv.FormatInt((until.Sub(now) + time.Millisecond - 1).Milliseconds(), 10), // rounded up
	}}
	var err error
	if acked && s.ackReplicas > 0 {
		// A replay writes nothing, so it has nothing to wait for; but the
		// WAIT goes out with the SET, before its answer. Look first: while
		// a replica is down each replayed key would otherwise hold a
		// connection for the whole wait. A key that appears between the
		// look and the SET is still refused by SET NX (and then waits).
		n, lookErr := s.client.Do(ctx, s.client.B().Exists().Key(k).Build()).AsInt64()
		if lookErr != nil {
			return false, s.fail(op, lookErr)
		}
		if n > 0 {
			return false, nil
		}
		err = s.execAckedUnless(ctx, op, nil, onceScript, set)[0].Error()
	} else {
		err = onceScript.Exec(ctx, s.client, set.Keys, set.Args).Error()
	}
	switch {
	case rueidis.IsRedisNil(err):
		return false, nil // already there: a replay
	case err != nil:
		return false, s.fail(op, err)
	}
	return true, nil
}
