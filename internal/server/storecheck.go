package server

import (
	"context"
	"log/slog"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/pgstore"
	"github.com/sessiond/sessiond/redisstore"
)

// warnStoreSettings warns at start about settings of the store's server
// that work until the day they do not: a PostgreSQL that cannot give every
// node its pool or never vacuums, a Redis that keeps nothing across a
// restart or deletes keys when it is full. It only reads. A PostgreSQL
// setting it cannot read is skipped; a Redis one is warned of once, as
// not checked, since managed Redis refuses CONFIG and its defaults
// (volatile-lru) are the ones that bring revoked sessions back.
func warnStoreSettings(ctx context.Context, store sessiond.Store, log *slog.Logger) {
	switch st := store.(type) {
	case *pgstore.Store:
		warnConnectionBudget(ctx, st, log)
		warnAutovacuum(ctx, st, log)
	case *redisstore.Store:
		warnRedisPersistence(ctx, st, log)
		warnRedisEviction(ctx, st, log)
	}
}

// listenerConns is the most connections a node holds outside its pool:
// the feed's listener, and the SSF transmitter's.
const listenerConns = 2

// storeDescriptors is how many file descriptors the store may hold at
// once beyond the process's reserve: a PostgreSQL pool and its listeners.
// SQLite's few connections and files (six connections, each with the
// database and its -wal), and Redis's pipelined connections (up to four,
// one a node on a Cluster), fit the reserve. Not counted: Redis's
// revocations that wait for a replica (WAIT) each hold a connection of
// rueidis's blocking pool while they wait, up to 1,024 a node, kept open
// afterwards (docs/operations.md, "Running out of file descriptors").
func storeDescriptors(store sessiond.Store) int {
	if pg, ok := store.(*pgstore.Store); ok {
		return pg.PoolSize() + listenerConns
	}
	return 0
}

// connBudget is the connections the listeners may hold between them
// under a descriptor limit of fds (0: unknown): what maxConns leaves once
// the store's own descriptors are counted, warned of when the store's pool
// crowds it.
func connBudget(fds uint64, store sessiond.Store, log *slog.Logger) int {
	held := storeDescriptors(store)
	budget := maxConns(fds, held)
	warnPoolDescriptors(fds, held, budget, log)
	return budget
}

// warnPoolDescriptors warns when the store's pool takes half or more of
// the connections the open-file limit allows: the clients' connections
// are then bounded to what is left, and a burst waits in the kernel's
// queue far sooner than the limit suggests.
func warnPoolDescriptors(fds uint64, held, conns int, log *slog.Logger) {
	if fds == 0 || held == 0 || held < conns {
		return
	}
	log.Warn("open-file limit low for the store's pool: client connections bounded to what the pool leaves; "+
		"raise the open-file limit (LimitNOFILE, ulimit -n) or lower pool_max_conns in store.dsn",
		"open_file_limit", fds, "store_connections", held, "client_connections", conns)
}

// warnConnectionBudget warns when PostgreSQL's limits (max_connections,
// the role's and the database's CONNECTION LIMIT), with the connections
// other clients hold now, leave less room than this node's pool and
// listeners may open. Nodes added one by one each start fine and then fail under
// load with "too many clients"; the warning names the numbers while the
// operator is still watching the rollout.
func warnConnectionBudget(ctx context.Context, pg *pgstore.Store, log *slog.Logger) {
	b, err := pg.ConnectionBudget(ctx)
	if err != nil {
		log.Debug("pgstore: connection budget not read", "err", err)
		return
	}
	if b.Room() < b.Pool+listenerConns {
		log.Warn("pgstore: PostgreSQL may have too few connections left for this node: under load its requests would fail with store_unavailable; "+
			"set pool_max_conns in store.dsn on every node, or raise max_connections (or the role's or database's CONNECTION LIMIT)",
			"max_connections", b.MaxConnections, "reserved", b.Reserved, "other_clients", b.Others,
			"role_limit", b.RoleLimit, "role_others", b.RoleOthers, "database_limit", b.DatabaseLimit, "database_others", b.DatabaseOthers,
			"room", b.Room(), "pool_max_conns", b.Pool, "listeners", listenerConns)
	}
}

// warnAutovacuum warns when PostgreSQL's autovacuum does not look after
// the store's tables: nothing fails at first, but the dead rows of every
// refresh and revocation pile up, the tables and indexes bloat and the
// planner's statistics go stale, and requests slow down week by week.
func warnAutovacuum(ctx context.Context, pg *pgstore.Store, log *slog.Logger) {
	a, err := pg.Autovacuum(ctx)
	if err != nil {
		log.Debug("pgstore: autovacuum not checked", "err", err)
		return
	}
	if !a.Runs() {
		log.Warn("pgstore: PostgreSQL's autovacuum does not look after sessiond's tables: the dead rows every refresh, touch and revocation "+
			"leaves are never reclaimed, so the tables and indexes bloat and the planner's statistics go stale; turn it on "+
			"(autovacuum = on and track_counts = on in postgresql.conf, or ALTER SYSTEM SET … and SELECT pg_reload_conf(); "+
			"ALTER TABLE … RESET (autovacuum_enabled) for the tables listed), or run VACUUM (ANALYZE) on the store's tables on a schedule "+
			"(docs/pgstore.md, \"Autovacuum\")",
			"autovacuum", a.Enabled, "track_counts", a.TrackCounts, "tables_off", a.Off)
	}
}

// warnRedisPersistence warns for each Redis node that neither snapshots
// nor keeps an append-only file: its restart loses every session and the
// signing and API keys, and every user must log in again. It warns too of
// a node that only snapshots: its restart brings back the last snapshot,
// minutes old, in which the sessions revoked since are live again.
func warnRedisPersistence(ctx context.Context, rs *redisstore.Store, log *slog.Logger) {
	nodes, err := rs.Persistence(ctx)
	if err != nil {
		// Managed services (ElastiCache, Memorystore…) refuse CONFIG:
		// the operator must then check by hand what this could not.
		log.Warn("redisstore: Redis persistence not checked (CONFIG GET failed; managed services refuse it): verify by hand that "+
			"every node keeps the append-only file (appendonly yes, appendfsync everysec); a Redis that keeps nothing loses every "+
			"session, the signing keys and the API keys when it restarts, and one restored from a snapshot brings revoked "+
			"sessions back (docs/redisstore.md, \"Failure behaviour\")",
			"err", err)
		return
	}
	for _, n := range nodes {
		if n.RDB && !n.AOF {
			log.Warn("redisstore: Redis keeps only snapshots (appendonly no): a restart brings back the last snapshot, in which the sessions "+
				"revoked since (logouts, refresh-token theft, anomalies, the kill switch) are live again and their refresh tokens work; "+
				"turn on the append-only file (appendonly yes, appendfsync everysec) (docs/redisstore.md, \"Failure behaviour\")",
				"addr", n.Addr)
		}
		if !n.Kept() {
			log.Warn("redisstore: Redis keeps nothing across a restart (save is empty, appendonly no): a restart loses every session, "+
				"the signing keys and the API keys; enable RDB snapshots or the append-only file (docs/redisstore.md, \"Failure behaviour\")",
				"addr", n.Addr)
		}
	}
}

// warnRedisEviction warns for each Redis node that deletes keys when it
// reaches maxmemory (a maxmemory-policy other than noeviction). sessiond's
// keys are records, not a cache: an evicted session record, revocation
// index entry or one-time key brings back what it refused (a revoked
// session verifying on a node that rebuilds its revoked set, a DPoP proof
// or DBSC challenge accepted twice), and allkeys-* policies can evict the
// signing key ring, the API keys and the incident watermarks. It warns
// rather than refuses, as the persistence check does: many managed
// services ship an eviction policy by default and refuse CONFIG (where
// the operator is told to check by hand), and nothing is evicted until Redis is
// full, which the operator can watch (docs/redisstore.md, "Memory").
func warnRedisEviction(ctx context.Context, rs *redisstore.Store, log *slog.Logger) {
	nodes, err := rs.Memory(ctx)
	if err != nil {
		log.Warn("redisstore: Redis eviction policy not checked (CONFIG GET failed; managed services refuse it): verify by hand "+
			"that every node runs maxmemory-policy noeviction (managed services often default to volatile-lru); a Redis that "+
			"evicts when full deletes revocations, sessions and one-time keys, and revoked sessions verify again "+
			"(docs/redisstore.md, \"Memory\")",
			"err", err)
		return
	}
	for _, n := range nodes {
		if n.Evicts() {
			log.Warn("redisstore: Redis evicts keys when it is full (maxmemory-policy is not noeviction): evicted revocations, "+
				"sessions and one-time keys let revoked sessions and replayed proofs through; set maxmemory-policy noeviction "+
				"and size maxmemory for the sessions and events you keep (docs/redisstore.md, \"Memory\")",
				"addr", n.Addr, "maxmemory", n.MaxMemory, "policy", n.Policy)
		}
	}
}
