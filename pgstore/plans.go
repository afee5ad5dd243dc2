package pgstore

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"
)

// Keeping plans current. pgx prepares every statement, and after five
// executions PostgreSQL may keep a generic plan for it, per connection,
// until the statistics of a table it reads change. A plan made while a
// table was nearly empty (a new schema, before autovacuum's first ANALYZE
// up to a minute after the first writes) reads it with a sequential scan:
// cheapest then, and kept as the table grows. Measured on a fresh schema
// under a refresh load (PostgreSQL 15): the group lock and the grouped
// Lookup scanned the whole sessions and tokens tables, and one ANALYZE
// raised refreshes per second by 43 % in the same run (docs/pgstore.md).
//
// So the store analyzes its busiest tables itself when they have outgrown
// what the planner was last told: ANALYZE invalidates the cached plans of
// every statement reading the table, and PostgreSQL replans with the
// table's real size. Autovacuum keeps the statistics current after that.
// The check reads five rows of pg_class, and only after this node has
// written: an idle store sends nothing.

// plannedTables are the tables whose reads are on the request path.
var plannedTables = []string{"sessions", "tokens", "events", "deliveries", "revocation_log"}

const (
	// planCheckFirst is how often the check runs while a table has no
	// statistics (never analyzed nor vacuumed): often, so that the first
	// seconds of load on a new schema are not served with an empty
	// table's plans.
	planCheckFirst = time.Second
	// planCheckEvery is how often it runs once every table has them.
	planCheckEvery = 30 * time.Second
	// planMinPages and planGrowth: a table is analyzed once it holds
	// planGrowth times the pages its statistics say, or that it held when
	// this store last analyzed it (an ANALYZE PostgreSQL skipped, for a
	// table another role owns, is not repeated at every check), and at
	// least planMinPages: below that a sequential scan costs little.
	planMinPages = 64
	planGrowth   = 4
)

// tableSizesSQL returns, for each table of $1, its name as PostgreSQL
// prints it (quoted and qualified where needed), its size in pages, the
// size its statistics say, and whether it has statistics at all.
const tableSizesSQL = `SELECT c.oid::regclass::text, pg_relation_size(c.oid) / current_setting('block_size')::bigint,
	c.relpages::bigint, c.reltuples >= 0
FROM pg_class c WHERE c.oid = ANY ($1::text[]::regclass[])`

// planKeeper is the state of keepPlansCurrent.
type planKeeper struct {
	// tried is the size in pages of each table when this store last
	// analyzed it.
	tried map[string]int64
	// writes is the store's write count at the last check.
	writes int64
}

// keepPlansCurrent runs checkPlans, after every interval in which the
// store wrote, until the store closes.
func (s *Store) keepPlansCurrent() {
	defer s.wg.Done()
	k := &planKeeper{tried: map[string]int64{}}
	t := time.NewTimer(planCheckInterval(true))
	defer t.Stop()
	unanalyzed := true
	for {
		select {
		case <-s.bg.Done():
			return
		case <-t.C:
		}
		if w := s.writes.Load(); w != k.writes {
			k.writes = w
			var err error
			_, unanalyzed, err = s.checkPlans(s.bg, k)
			if err != nil && s.bg.Err() == nil {
				s.log.Debug("pgstore: checking table statistics", "error", err)
			}
		}
		t.Reset(planCheckInterval(unanalyzed))
	}
}

// checkPlans analyzes the tables that have outgrown their statistics,
// returns their names, and reports whether one of the tables had none
// before.
func (s *Store) checkPlans(ctx context.Context, k *planKeeper) (analyzed []string, unanalyzed bool, err error) {
	names := make([]string, len(plannedTables))
	for i, t := range plannedTables {
		names[i] = pgx.Identifier{s.schema, t}.Sanitize()
	}
	type table struct {
		name               string
		pages, statPages   int64
		hasStats, outgrown bool
	}
	rows, err := s.pool.Query(ctx, tableSizesSQL, names)
	if err != nil {
		return nil, true, err
	}
	tables, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (table, error) {
		var t table
		err := row.Scan(&t.name, &t.pages, &t.statPages, &t.hasStats)
		return t, err
	})
	if err != nil {
		return nil, true, err
	}
	for _, t := range tables {
		unanalyzed = unanalyzed || !t.hasStats
		if t.pages < planGrowth*max(t.statPages, k.tried[t.name], planMinPages/planGrowth) {
			continue
		}
		// ANALYZE takes a lock that conflicts with neither reads nor
		// writes (only with DDL, VACUUM and another ANALYZE).
		start := time.Now()
		if _, err := s.pool.Exec(ctx, "ANALYZE "+t.name); err != nil {
			return analyzed, unanalyzed, err
		}
		k.tried[t.name] = t.pages
		analyzed = append(analyzed, t.name)
		s.log.Info("pgstore: analyzed a table that outgrew its statistics, so that PostgreSQL replans its statements",
			"table", t.name, "pages", t.pages, "statistics_pages", t.statPages, "took", time.Since(start).Round(time.Millisecond).String())
	}
	return analyzed, unanalyzed, nil
}

// planCheckInterval is the check's interval: planCheckFirst while a table
// has no statistics, planCheckEvery once all have.
func planCheckInterval(unanalyzed bool) time.Duration {
	if unanalyzed {
		return planCheckFirst
	}
	return planCheckEvery
}
