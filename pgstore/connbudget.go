package pgstore

import (
	"context"
)

// ConnBudget is PostgreSQL's connection limit against what one store's
// pool may open. Every node opens a pool of its own, so nodes added one by
// one reach max_connections without any of them failing at start; past
// it, PostgreSQL refuses new connections ("too many clients", an error
// matching sessiond.ErrStoreUnavailable) just when load opens them.
type ConnBudget struct {
	MaxConnections int // max_connections
	Reserved       int // superuser_reserved_connections, and reserved_connections where it exists (PostgreSQL 16)
	Others         int // client connections open now, this store's own not counted
	Pool           int // the most connections this store's pool opens
}

// Room is how many connections other clients leave to this store.
func (b ConnBudget) Room() int { return b.MaxConnections - b.Reserved - b.Others }

// ConnectionBudget reads max_connections and the client connections open
// now, for a server to warn at start when its pool might not fit. It
// changes nothing.
func (s *Store) ConnectionBudget(ctx context.Context) (ConnBudget, error) {
	if s.closed.Load() {
		return ConnBudget{}, errClosed
	}
	b := ConnBudget{Pool: int(s.pool.Config().MaxConns)}
	// The count includes the pool's connections open right now (this
	// query's among them); they are taken off below.
	err := s.pool.QueryRow(ctx, `SELECT current_setting('max_connections')::int,
		current_setting('superuser_reserved_connections')::int
			+ coalesce(current_setting('reserved_connections', true)::int, 0),
		(SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend')::int`).
		Scan(&b.MaxConnections, &b.Reserved, &b.Others)
	if err != nil {
		return ConnBudget{}, s.translate("connection budget", err)
	}
	b.Others = max(0, b.Others-int(s.pool.Stat().TotalConns()))
	return b, nil
}
