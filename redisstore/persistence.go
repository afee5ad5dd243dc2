package redisstore

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
)

// Persistence is what one Redis node keeps across its restart. The
// sessions, the signing keys and the API keys live only in Redis: a node
// that keeps nothing loses them all when it restarts, and every user has
// to log in again with tokens signed by keys that no longer exist.
type Persistence struct {
	Addr string
	RDB  bool // a snapshot policy (CONFIG GET save is not empty)
	AOF  bool // the append-only file (appendonly yes)
}

// Kept reports whether the node writes anything to disk.
func (p Persistence) Kept() bool { return p.RDB || p.AOF }

// Persistence reads with CONFIG GET the persistence settings of each node
// the client knows (the server; on a Cluster every master, and the
// replicas it has met), for a server to warn at start. It changes
// nothing. Managed services often refuse CONFIG; the error says so and
// the caller can only skip the check.
func (s *Store) Persistence(ctx context.Context) ([]Persistence, error) {
	if s.ctx.Err() != nil {
		return nil, wrap("persistence", errClosed)
	}
	nodes := s.client.Nodes()
	out := make([]Persistence, 0, len(nodes))
	for _, addr := range slices.Sorted(maps.Keys(nodes)) {
		c := nodes[addr]
		res := c.DoMulti(ctx,
			c.B().ConfigGet().Parameter("save").Build(),
			c.B().ConfigGet().Parameter("appendonly").Build())
		p := Persistence{Addr: addr}
		for i, r := range res {
			m, err := r.AsStrMap()
			if err != nil {
				// %v: no rueidis type escapes the store; a refused
				// CONFIG is not a store outage either.
				return nil, fmt.Errorf("redisstore: persistence of %s: %v", addr, err)
			}
			if i == 0 {
				p.RDB = strings.TrimSpace(m["save"]) != ""
			} else {
				p.AOF = m["appendonly"] == "yes"
			}
		}
		out = append(out, p)
	}
	return out, nil
}
