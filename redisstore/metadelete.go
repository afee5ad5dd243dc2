package redisstore

import (
	"context"
	"fmt"

	"github.com/redis/rueidis"

	"github.com/sessiond/sessiond"
)

var _ sessiond.MetaDeleter = (*Store)(nil)

// deleteMetaScript deletes a shared document if its version is still the
// given one. One key, so it runs on a Cluster as on one node.
//
//	KEYS: meta key
//	ARGV: expected version
//	→ 1 deleted | 0 version moved | -1 no such document
var deleteMetaScript = rueidis.NewLuaScript(`
local cur = redis.call('HGET', KEYS[1], 'ver')
if not cur then return -1 end
if tonumber(cur) ~= tonumber(ARGV[1]) then return 0 end
redis.call('DEL', KEYS[1])
return 1
`)

// DeleteMeta deletes document name if its version is still version; see
// sessiond.MetaDeleter. One script makes it a compare-and-delete.
func (s *Store) DeleteMeta(ctx context.Context, name string, version int64) error {
	op := fmt.Sprintf("delete meta %q", name)
	if err := ctxErr(ctx, op, sessiond.CheckMetaVersion(version)); err != nil {
		return err
	}
	r, err := deleteMetaScript.Exec(ctx, s.client, []string{s.metaKey(name)}, []string{itoa(version)}).AsInt64()
	switch {
	case err != nil:
		return s.fail(op, err)
	case r == 0:
		return fmt.Errorf("redisstore: %s: version moved: %w", op, sessiond.ErrConflict)
	case r < 0:
		return fmt.Errorf("redisstore: %s: %w", op, sessiond.ErrNotFound)
	}
	return nil
}
