package redisstore

import (
	"context"
	"fmt"
	"strings"

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
	sc := putMetaScript
	if acked {
		sc = putRevokingMetaScript
	}
	return s.execPutMeta(ctx, op, sc, acked, []string{s.metaKey(name)}, []string{itoa(version), string(value)})
}

// execPutMeta runs one of the put-meta scripts, through the replica wait
// when acked, and reads its answer: the new version, or nil when the
// document's version moved (ErrConflict).
func (s *Store) execPutMeta(ctx context.Context, op string, sc pairedScript, acked bool, keys, args []string) (int64, error) {
	var r rueidis.RedisResult
	if acked {
		r = s.execAcked(ctx, op, sc, rueidis.LuaExec{Keys: keys, Args: args})[0]
	} else {
		r = sc.Exec(ctx, s.client, keys, args)
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

var _ sessiond.MetaChangeRecorder = (*Store)(nil)

// putMetaRecordedLua is putMetaBody that, when it writes the document,
// also runs store (the statement that stores the change's records).
func putMetaRecordedLua(store string) string {
	return `
local cur = redis.call('HGET', KEYS[1], 'ver')
local v = 0
if cur then v = tonumber(cur) end
if v ~= tonumber(ARGV[1]) then return false end
redis.call('HSET', KEYS[1], 'val', ARGV[2], 'ver', v + 1)
` + store + `
return v + 1
`
}

// putMetaRecordedScript is putMetaScript outside a Cluster that also
// stores the records block of the change; putRevokingMetaRecordedScript
// the same for the documents that revoke (as putRevokingMetaScript).
//
//	KEYS: meta key, the six record keys
//	ARGV: expected version, value, event log base, outbox base, maximum
//	      age, records block
//	→ as putMetaScript
var (
	putMetaRecordedScript         = newPairedScript(recordsLua + putMetaRecordedLua(`write_block(2, ARGV, 6, ARGV[3], ARGV[4], ARGV[5])`))
	putRevokingMetaRecordedScript = newPairedScript(allowOOM + recordsLua + putMetaRecordedLua(`write_block(2, ARGV, 6, ARGV[3], ARGV[4], ARGV[5])`))
)

// putMetaPendingScript is putMetaRecordedScript on a Cluster: the records
// are kept pending in the meta key's slot (pending.go), then moved.
//
//	KEYS: meta key, pending hash
//	ARGV: expected version, value, field, records
var (
	putMetaPendingScript         = newPairedScript(putMetaRecordedLua(`redis.call('HSET', KEYS[2], ARGV[3], ARGV[4])`))
	putRevokingMetaPendingScript = newPairedScript(allowOOM + putMetaRecordedLua(`redis.call('HSET', KEYS[2], ARGV[3], ARGV[4])`))
)

// PutMetaRecorded stores value as PutMeta does and, in the same script,
// rec; see sessiond.MetaChangeRecorder. On a Redis Cluster the records are
// kept pending in the document's slot by that script and moved to the
// event log and the outbox after it (pending.go), as a session change's
// are. rec is checked first, so a record it refuses changes nothing.
func (s *Store) PutMetaRecorded(ctx context.Context, name string, value []byte, version int64, rec sessiond.ChangeRecords) (int64, error) {
	op := fmt.Sprintf("put meta %q", name)
	if err := ctxErr(ctx, op); err != nil {
		return 0, err
	}
	block, err := appendBlock(nil, rec)
	if err != nil {
		return 0, wrap(op, err)
	}
	acked := RevokingMeta(name)
	if records(block) == 0 {
		return s.putMeta(ctx, name, value, version, acked)
	}
	key := s.metaKey(name)
	var (
		keys, args []string
		sc         pairedScript
		pend       pending // on a Cluster
	)
	if s.crossSlot {
		keys = append([]string{key}, s.recordKeys()...)
		args = append(s.recordsHeader([]string{itoa(version), string(value)}, s.sweepDue(records(block))), block...)
		sc = putMetaRecordedScript
		if acked {
			sc = putRevokingMetaRecordedScript
		}
	} else {
		if pend, err = s.pendIn(keySlot(key), block); err != nil {
			return 0, wrap(op, err)
		}
		keys, args = []string{key, pend.key}, []string{itoa(version), string(value), pend.field, pend.payload}
		sc = putMetaPendingScript
		if acked {
			sc = putRevokingMetaPendingScript
		}
	}
	v, err := s.execPutMeta(ctx, op, sc, acked, keys, args)
	if err != nil {
		return 0, err
	}
	if pend.key != "" {
		s.settle(ctx, op, pend)
	}
	return v, nil
}

// keySlot is the Redis Cluster slot of key: its hash tag's, when it has
// one, else the whole key's.
func keySlot(key string) uint16 {
	if i := strings.IndexByte(key, '{'); i >= 0 {
		if j := strings.IndexByte(key[i+1:], '}'); j > 0 {
			return slotOf(key[i+1 : i+1+j])
		}
	}
	return slotOf(key)
}
