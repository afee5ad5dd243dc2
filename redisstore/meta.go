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
// compare-and-swap. A write of a document that revokes (RevokingMeta)
// waits for replicas as a revocation does.
func (s *Store) PutMeta(ctx context.Context, name string, value []byte, version int64) (int64, error) {
	return s.putMeta(ctx, name, value, version, RevokingMeta(name))
}

// PutRevokingMeta is PutMeta for a write that revokes something in a
// document whose other writes do not (a login code spent, in a shard of
// codes that every login writes): it waits for replicas as a revocation
// does, whatever the document. A failover that lost the write would undo
// what it revoked.
func (s *Store) PutRevokingMeta(ctx context.Context, name string, value []byte, version int64) (int64, error) {
	return s.putMeta(ctx, name, value, version, true)
}

func (s *Store) putMeta(ctx context.Context, name string, value []byte, version int64, acked bool) (int64, error) {
	op := fmt.Sprintf("put meta %q", name)
	if err := ctxErr(ctx, op); err != nil {
		return 0, err
	}
	keys, args := []string{s.metaKey(name)}, []string{itoa(version), string(value)}
	var r rueidis.RedisResult
	if acked {
		r = s.execAcked(ctx, op, putRevokingMetaScript, rueidis.LuaExec{Keys: keys, Args: args})[0]
	} else {
		r = putMetaScript.Exec(ctx, s.client, keys, args)
	}
	v, err := r.AsInt64()
	switch {
	case rueidis.IsRedisNil(err):
		return 0, fmt.Errorf("redisstore: %s: version moved: %w", op, sessiond.ErrConflict)
	case err != nil:
		return 0, s.fail(op, err)
	}
	return v, nil
}

// RevokingMeta reports whether PutMeta of document name waits for
// replicas (Options.RevocationReplicas) as a revocation does: the
// Manager's incident watermarks, the API key set (a key revoked, or its
// scopes narrowed) and the signing key ring (the keys the kill switch
// dropped). A failover that lost such a write would bring back, for
// every node started after it, what the write revoked. Other documents
// (Shared Signals streams and queues; shared secrets) revoke nothing and
// do not wait, nor do login codes, written per login: the gateway writes
// a code's spend with PutRevokingMeta.
func RevokingMeta(name string) bool {
	switch name {
	case "revocation_watermarks", "api_keys", "signing_keys":
		return true
	}
	return false
}
