package pgstore

import (
	"context"
)

// Autovacuum says whether PostgreSQL vacuums and analyzes the store's
// tables by itself. Every refresh, touch, revocation and collection
// leaves dead row versions behind; without autovacuum nothing reclaims
// them, so the tables and their indexes grow without bound (and updates
// stop fitting on their page as heap-only updates), and the planner keeps
// the statistics of the last ANALYZE (the store's own ANALYZE, plans.go,
// covers a table's growth, not its churn).
type Autovacuum struct {
	Enabled     bool // the autovacuum setting
	TrackCounts bool // track_counts: without the counts autovacuum never picks a table
	// Off are the store's tables whose storage parameter
	// autovacuum_enabled is off (ALTER TABLE … SET (autovacuum_enabled =
	// off)), by name.
	Off []string
}

// Runs reports whether autovacuum looks after every table of the store.
func (a Autovacuum) Runs() bool { return a.Enabled && a.TrackCounts && len(a.Off) == 0 }

// storeTables are the tables the migrations create that rows churn
// through (schema_migrations aside). The schema may hold other
// applications' tables (public, the default, is shared): their settings
// are not sessiond's to warn about.
var storeTables = []string{
	"bulk_revocations", "counters", "deliveries", "events", "meta",
	"once_keys", "revocation_log", "sessions", "tokens",
}

// autovacuumQuery reads the two settings and the store's tables that turn
// autovacuum off for themselves. The parameter is kept as written ("off",
// "0", "no"…); the cast to bool reads it as PostgreSQL does.
const autovacuumQuery = `SELECT current_setting('autovacuum')::bool, current_setting('track_counts')::bool,
	coalesce(array_agg(c.relname::text ORDER BY c.relname) FILTER (WHERE NOT o.option_value::bool), '{}')
FROM pg_class c CROSS JOIN LATERAL pg_options_to_table(c.reloptions) o
WHERE c.relnamespace = (SELECT oid FROM pg_namespace WHERE nspname = $1)
	AND c.relname = ANY($2) AND c.relkind IN ('r', 'p') AND o.option_name = 'autovacuum_enabled'`

// Autovacuum reads whether PostgreSQL's autovacuum looks after the store's
// tables, for a server to warn at start when it does not. It changes
// nothing.
func (s *Store) Autovacuum(ctx context.Context) (Autovacuum, error) {
	if s.closed.Load() {
		return Autovacuum{}, errClosed
	}
	var a Autovacuum
	if err := s.pool.QueryRow(ctx, autovacuumQuery, s.schema, storeTables).Scan(&a.Enabled, &a.TrackCounts, &a.Off); err != nil {
		return Autovacuum{}, s.translate("autovacuum", err)
	}
	return a, nil
}
