package pgstore

import (
	"context"
)

// ConnBudget is PostgreSQL's connection limits against what one store's
// pool may open. Every node opens a pool of its own, so nodes added one by
// one reach a limit without any of them failing at start; past it,
// PostgreSQL refuses new connections ("too many clients", "too many
// connections for role", an error matching sessiond.ErrStoreUnavailable)
// just when load opens them.
type ConnBudget struct {
	MaxConnections int // max_connections
	Reserved       int // superuser_reserved_connections, and reserved_connections where it exists (PostgreSQL 16)
	Others         int // client connections open now, this store's own not counted
	Pool           int // the most connections this store's pool opens
	// RoleLimit and DatabaseLimit are the CONNECTION LIMIT of the store's
	// login role and of its database, -1 when there is none or the role is
	// a superuser (PostgreSQL does not hold superusers to them); RoleOthers
	// and DatabaseOthers are the connections already open under each, this
	// store's own not counted. Managed services often set a role's limit.
	RoleLimit, RoleOthers         int
	DatabaseLimit, DatabaseOthers int
}

// Room is how many connections the limits and other clients leave to this
// store: the least of what max_connections, the role's limit and the
// database's limit leave.
func (b ConnBudget) Room() int {
	room := b.MaxConnections - b.Reserved - b.Others
	if b.RoleLimit >= 0 {
		room = min(room, b.RoleLimit-b.RoleOthers)
	}
	if b.DatabaseLimit >= 0 {
		room = min(room, b.DatabaseLimit-b.DatabaseOthers)
	}
	return room
}

// budgetQuery reads the limits and the client connections open now. The
// counts include the pool's own connections (this query's among them);
// ConnectionBudget takes them off.
const budgetQuery = `SELECT current_setting('max_connections')::int,
	current_setting('superuser_reserved_connections')::int
		+ coalesce(current_setting('reserved_connections', true)::int, 0),
	(SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend')::int,
	CASE WHEN r.rolsuper THEN -1 ELSE r.rolconnlimit END,
	(SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend' AND usename = session_user)::int,
	CASE WHEN r.rolsuper THEN -1 ELSE d.datconnlimit END,
	(SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend' AND datname = current_database())::int
FROM pg_roles r, pg_database d
WHERE r.rolname = session_user AND d.datname = current_database()`

// ConnectionBudget reads PostgreSQL's connection limits and the client
// connections open now, for a server to warn at start when its pool might
// not fit. It changes nothing.
func (s *Store) ConnectionBudget(ctx context.Context) (ConnBudget, error) {
	if s.closed.Load() {
		return ConnBudget{}, errClosed
	}
	b := ConnBudget{Pool: int(s.pool.Config().MaxConns)}
	err := s.pool.QueryRow(ctx, budgetQuery).Scan(&b.MaxConnections, &b.Reserved, &b.Others,
		&b.RoleLimit, &b.RoleOthers, &b.DatabaseLimit, &b.DatabaseOthers)
	if err != nil {
		return ConnBudget{}, s.translate("connection budget", err)
	}
	// Every connection of the pool is of this role and database.
	own := int(s.pool.Stat().TotalConns())
	for _, n := range []*int{&b.Others, &b.RoleOthers, &b.DatabaseOthers} {
		*n = max(0, *n-own)
	}
	return b, nil
}

// PoolSize is the most connections the store's pool opens (pool_max_conns
// in the DSN, Options.MaxConns or the default). Each is a file descriptor
// of the process, so a server counts them before it bounds the
// connections its clients may hold.
func (s *Store) PoolSize() int { return int(s.pool.Config().MaxConns) }
