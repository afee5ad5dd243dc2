package redisstore

import (
	"context"
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

// RememberOnce implements sessiond.ReplayGuard with one SET NX PXAT: Redis
// decides atomically which of concurrent callers on any node is first.
func (s *Store) RememberOnce(ctx context.Context, key string, now, until time.Time) (bool, error) {
	return s.rememberOnce(ctx, "remember once", key, now, until, false)
}

// RememberOnceAcked implements sessiond.AckedReplayGuard: the SET NX PXAT
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
	set := func(rueidis.LuaExec) rueidis.Completed {
		return s.client.B().Set().Key(k).Value("1").Nx().Pxat(until).Build()
	}
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
		err = s.doAcked(ctx, op, nil, []rueidis.LuaExec{{Keys: []string{k}}}, set)[0].Error()
	} else {
		err = s.client.Do(ctx, set(rueidis.LuaExec{})).Error()
	}
	switch {
	case rueidis.IsRedisNil(err):
		return false, nil // already there: a replay
	case err != nil:
		return false, s.fail(op, err)
	}
	return true, nil
}
