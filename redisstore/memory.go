package redisstore

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/redis/rueidis"
)

// Memory is how one Redis node bounds its memory: maxmemory (0: no bound)
// and the policy it follows when it reaches it. Only noeviction keeps
// every key; any other policy deletes keys to make room, and sessiond's
// keys are not a cache: an evicted revocation record, session or
// one-time key brings back what it refused (see Evicts).
type Memory struct {
	Addr      string
	MaxMemory int64  // bytes; 0: no limit
	Policy    string // maxmemory-policy
}

// Evicts reports whether the node deletes keys when it is full: an
// eviction policy with a memory limit. volatile-* policies evict keys with
// a TTL, which every session key and one-time key has; allkeys-* any key,
// the signing key ring, the API keys and the incident watermarks too.
func (m Memory) Evicts() bool { return m.MaxMemory > 0 && m.Policy != "noeviction" }

// Memory reads with CONFIG GET maxmemory and maxmemory-policy of each node
// the client knows (the server; on a Cluster every master, and the
// replicas it has met), for a server to warn at start, as Persistence
// does. It changes nothing; where CONFIG is refused, as on many managed
// services, the error says so and the caller can only skip the check.
func (s *Store) Memory(ctx context.Context) ([]Memory, error) {
	if s.ctx.Err() != nil {
		return nil, wrap("memory", errClosed)
	}
	nodes := s.client.Nodes()
	out := make([]Memory, 0, len(nodes))
	for _, addr := range slices.Sorted(maps.Keys(nodes)) {
		c := nodes[addr]
		res := c.DoMulti(ctx,
			c.B().ConfigGet().Parameter("maxmemory").Build(),
			c.B().ConfigGet().Parameter("maxmemory-policy").Build())
		m := Memory{Addr: addr}
		for i, r := range res {
			kv, err := r.AsStrMap()
			if err != nil {
				// %v: no rueidis type escapes the store.
				return nil, fmt.Errorf("redisstore: memory of %s: %v", addr, err)
			}
			if i == 0 {
				if m.MaxMemory, err = strconv.ParseInt(kv["maxmemory"], 10, 64); err != nil {
					return nil, fmt.Errorf("redisstore: memory of %s: maxmemory %q", addr, kv["maxmemory"])
				}
			} else {
				m.Policy = kv["maxmemory-policy"]
			}
		}
		out = append(out, m)
	}
	return out, nil
}

// oomLogEvery spaces the store's "out of memory" log lines: every refused
// write fails its request (and its request line says so); the operator
// needs the cause once, not once per request.
const oomLogEvery = time.Minute

// isOOM reports whether err is Redis refusing a write for want of memory
// (used memory above maxmemory under noeviction, or nothing left to
// evict): "OOM command not allowed when used memory > 'maxmemory'", also
// as a script's error.
func isOOM(err error) bool {
	if rerr, ok := rueidis.IsRedisErr(err); ok {
		return strings.HasPrefix(rerr.Error(), "OOM ")
	}
	return false
}

// noteOOM counts a write Redis refused for want of memory and logs it, one
// line a minute at most, with the number refused since the last line.
func (s *Store) noteOOM(op string) {
	n := s.oomRefused.Add(1)
	now := time.Now().UnixNano()
	last := s.oomLogged.Load()
	if last != 0 && now-last < int64(oomLogEvery) || !s.oomLogged.CompareAndSwap(last, now) {
		return
	}
	s.log.Error("redisstore: Redis is out of memory (used memory above maxmemory): it refuses logins, refreshes, "+
		"new events and one-time keys until memory is freed or maxmemory raised; verifies, listings and revocations "+
		"go on (docs/operations.md, \"Redis out of memory\")",
		"op", op, "refused", n-s.oomReported.Swap(n))
}

// OutOfMemoryRefusals counts the calls that failed since New because Redis
// refused a write for want of memory.
func (s *Store) OutOfMemoryRefusals() uint64 { return s.oomRefused.Load() }
