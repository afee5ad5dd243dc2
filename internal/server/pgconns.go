package server

import (
	"context"
	"log/slog"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/pgstore"
)

// listenerConns is the most connections a node holds outside its pool:
// the feed's listener, and the SSF transmitter's.
const listenerConns = 2

// warnConnectionBudget warns at start when PostgreSQL, with the
// connections other clients hold now, leaves less room than this node's
// pool and listeners may open. Nodes added one by one each start fine and
// then fail under load with "too many clients"; the warning names the
// numbers while the operator is still watching the rollout.
func warnConnectionBudget(ctx context.Context, store sessiond.Store, log *slog.Logger) {
	pg, ok := store.(*pgstore.Store)
	if !ok {
		return
	}
	b, err := pg.ConnectionBudget(ctx)
	if err != nil {
		log.Debug("pgstore: connection budget not read", "err", err)
		return
	}
	if b.Room() < b.Pool+listenerConns {
		log.Warn("pgstore: PostgreSQL may have too few connections left for this node: under load its requests would fail with store_unavailable; "+
			"set pool_max_conns in store.dsn on every node, or raise max_connections",
			"max_connections", b.MaxConnections, "reserved", b.Reserved, "other_clients", b.Others, "room", b.Room(),
			"pool_max_conns", b.Pool, "listeners", listenerConns)
	}
}
