package redisstore

import (
	"context"
	"time"

	"github.com/redis/rueidis"

	"github.com/sessiond/sessiond"
)

var _ sessiond.ReplayGuard = (*Store)(nil)

// onceKey is a ReplayGuard key: a plain string with Redis's own expiry, so
// nothing has to sweep it.
func (s *Store) onceKey(key string) string { return s.prefix + ":once:" + key }

// RememberOnce implements sessiond.ReplayGuard with one SET NX PXAT: Redis
// decides atomically which of concurrent callers on any node is first.
func (s *Store) RememberOnce(ctx context.Context, key string, now, until time.Time) (bool, error) {
	const op = "remember once"
	if err := ctxErr(ctx, op); err != nil {
		return false, err
	}
	if !until.After(now) {
		until = now.Add(time.Millisecond)
	}
	err := s.client.Do(ctx, s.client.B().Set().Key(s.onceKey(key)).Value("1").Nx().Pxat(until).Build()).Error()
	switch {
	case rueidis.IsRedisNil(err):
		return false, nil // already there: a replay
	case err != nil:
		return false, s.fail(op, err)
	}
	return true, nil
}
