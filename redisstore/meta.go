package redisstore

import (
	"context"
	"fmt"

	"github.com/redis/rueidis"

	"github.com/sessiond/sessiond"
)

var _ sessiond.MetaStore = (*Store)(nil)

// metaKey is a shared document's hash (fields val, ver), in a slot of its
// own. It is the one kind of key without a TTL: it holds the signing key
// ring and the API keys, which must outlive every session.
func (s *Store) metaKey(name string) string { return s.prefix + ":meta:" + name }

// GetMeta returns the shared document name and its version, or
// ErrNotFound. It always reads Redis.
func (s *Store) GetMeta(ctx context.Context, name string) ([]byte, int64, error) {
	op := fmt.Sprintf("get meta %q", name)
	if err := ctxErr(ctx, op); err != nil {
		return nil, 0, err
	}
	f, err := s.client.Do(ctx, s.client.B().Hmget().Key(s.metaKey(name)).Field("val", "ver").Build()).ToArray()
	if err != nil {
		return nil, 0, s.fail(op, err)
	}
	val, ok := field(&f[0])
	ver, ok2 := field(&f[1])
	if !ok || !ok2 {
		return nil, 0, fmt.Errorf("redisstore: %s: %w", op, sessiond.ErrNotFound)
	}
	version, err := atoi(ver)
	if err != nil {
		return nil, 0, s.fail(op, errCorrupt)
	}
	return []byte(val), version, nil
}

// PutMeta stores value as document name if its version is still version
// (0: it must not exist yet) and returns the new version; otherwise it
// changes nothing and fails with ErrConflict. One script makes it a
// compare-and-swap.
func (s *Store) PutMeta(ctx context.Context, name string, value []byte, version int64) (int64, error) {
	op := fmt.Sprintf("put meta %q", name)
	if err := ctxErr(ctx, op); err != nil {
		return 0, err
	}
	v, err := putMetaScript.Exec(ctx, s.client, []string{s.metaKey(name)}, []string{itoa(version), string(value)}).AsInt64()
	switch {
	case rueidis.IsRedisNil(err):
		return 0, fmt.Errorf("redisstore: %s: version moved: %w", op, sessiond.ErrConflict)
	case err != nil:
		return 0, s.fail(op, err)
	}
	return v, nil
}
