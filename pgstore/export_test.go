package pgstore

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"
)

// SetRevokeBatch sets how many sessions one statement of RevokeMatching
// revokes, so tests can cross batch boundaries with few sessions.
func SetRevokeBatch(s *Store, n int) { s.revokeBatch = n }

// StoreTables are the tables Autovacuum looks at.
var StoreTables = storeTables

// SchemaOf is the schema s keeps its tables in.
func SchemaOf(s *Store) string { return s.schema }

// HoldGroupSlots takes every group-commit slot, so the writes that arrive
// queue until release is called; then one of them takes them all as one
// group.
func HoldGroupSlots(s *Store) (release func()) {
	n := cap(s.groups.slots)
	for range n {
		s.groups.slots <- struct{}{}
	}
	return func() {
		for range n {
			<-s.groups.slots
		}
	}
}

// WriteGroupsOf is how many group commits s lets be in flight at once.
func WriteGroupsOf(s *Store) int { return cap(s.groups.slots) }

// ReadGroupsOf is how many grouped Lookups s lets be in flight at once.
func ReadGroupsOf(s *Store) int { return cap(s.reads.slots) }

// QueuedWrites is how many writes wait for a group commit.
func QueuedWrites(s *Store) int { return s.groups.Len() }

// WritesOf is the count of finished writes the plan check compares
// between its rounds.
func WritesOf(s *Store) int64 { return s.writes.Load() }

// GroupedWrites is how many writes committed in a group of two or more.
func GroupedWrites(s *Store) int64 { return s.groupedWrites.Load() }

// CloseIdleConn takes a connection from s's pool, puts it back and then
// closes it while it sits idle there, as a connection can be closed by
// the driver after its last use; the pool then holds a connection the
// driver knows is closed.
func CloseIdleConn(ctx context.Context, s *Store) error {
	c, err := s.pool.Acquire(ctx)
	if err != nil {
		return err
	}
	pc := c.Conn().PgConn()
	c.Release()
	return pc.Close(ctx)
}

// IdleConns is how many connections wait in s's pool.
func IdleConns(s *Store) int32 { return s.pool.Stat().IdleConns() }

// MaxConnsOf is the size of s's pool.
func MaxConnsOf(s *Store) int32 { return s.pool.Config().MaxConns }

// HoldReadSlots takes every grouped-read slot, so the Lookups that arrive
// queue until release is called; then one of them takes them all as one
// group.
func HoldReadSlots(s *Store) (release func()) {
	n := cap(s.reads.slots)
	for range n {
		s.reads.slots <- struct{}{}
	}
	return func() {
		for range n {
			<-s.reads.slots
		}
	}
}

// QueuedReads is how many Lookups wait for a grouped read.
func QueuedReads(s *Store) int { return s.reads.Len() }

// GroupedReads is how many Lookups were answered in a group of two or more.
func GroupedReads(s *Store) int64 { return s.groupedReads.Load() }

// RefreshStatements are the statements that write a session's activity:
// Touch's, and SwapRefresh's (without records), whose arguments are those
// of queueSwap.
func RefreshStatements(s *Store) (touch, swap string) { return s.q.touch, s.q.swap }

// PlanChecker returns a check of s's table statistics as its background
// loop runs it, with a state of its own: each call analyzes the tables
// that outgrew their statistics and returns their names, and whether a
// table had none before.
func PlanChecker(s *Store) func(ctx context.Context) ([]string, bool, error) {
	k := &planKeeper{tried: map[string]int64{}}
	return func(ctx context.Context) ([]string, bool, error) { return s.checkPlans(ctx, k) }
}

// SwapSets is how many swap-set statements s has sent (swapset.go).
func SwapSets(s *Store) int64 { return s.swapSets.Load() }

// CounterWindows is the counter suite's test hook: the rows of the
// counters table, ended windows not yet swept included (at does not
// matter: only a sweep removes them).
func (s *Store) CounterWindows(ctx context.Context, _ time.Time) (int, error) {
	var n int
	err := s.pool.QueryRow(ctx, "SELECT count(*) FROM "+pgx.Identifier{s.schema, "counters"}.Sanitize()).Scan(&n)
	return n, err
}

// SweepCounters runs the sweep's statement one Incr in counterSweepEvery
// runs, removing windows ended by before (Incr passes its now less
// counterSweepMargin).
func SweepCounters(ctx context.Context, s *Store, before time.Time) error {
	_, err := s.pool.Exec(ctx, s.q.sweepCounters, before, counterSweepBatch)
	return err
}

// IncrStatement is Incr's upsert; its arguments are key, now and
// now+window.
func IncrStatement(s *Store) string { return s.q.incr }
