package sessiond

import (
	"context"
	"time"
)

// AckedReplayGuard is an optional ReplayGuard extension of a store whose
// replicas lag behind it (redisstore): RememberOnceAcked is RememberOnce
// that returns only once the record is on enough replicas that a failover
// cannot lose it, as the store's revocations wait; a lost record would let
// its key be used once more. A wait that falls short is not an error (the
// record holds where it was written); the store reports it as it reports
// a revocation's.
//
// Callers use it where a replay would undo a decision and calls are rare:
// a DBSC challenge (httpsession), a Shared Signals SET (ssf). DPoP proof
// IDs, checked on every bound request, keep RememberOnce: a failover may
// forget the last of them (docs/bound-sessions.md).
//
// Without it RememberAcked is RememberOnce, which is all a store needs
// whose writes a failover cannot lose: memstore, sqlitestore, and
// PostgreSQL as far as its synchronous_commit setting makes a commit
// reach its standbys.
type AckedReplayGuard interface {
	ReplayGuard
	// RememberOnceAcked is RememberOnce on the same keys, waiting for
	// replicas after it records one.
	RememberOnceAcked(ctx context.Context, key string, now, until time.Time) (fresh bool, err error)
}

// RememberAcked records key in g with g's RememberOnceAcked when g is an
// AckedReplayGuard, else with RememberOnce.
func RememberAcked(ctx context.Context, g ReplayGuard, key string, now, until time.Time) (fresh bool, err error) {
	if a, ok := g.(AckedReplayGuard); ok {
		return a.RememberOnceAcked(ctx, key, now, until)
	}
	return g.RememberOnce(ctx, key, now, until)
}
