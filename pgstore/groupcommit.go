package pgstore

import (
	"cmp"
	"context"
	"errors"
	"runtime"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/sessiond/sessiond/internal/groupcommit"
)

// Group commit. A login or a refresh is one short batch and one commit;
// under load most of PostgreSQL's work per change (and a round trip each
// way) is the transaction around it, not its statements. So the writes that
// queue while every group slot is busy go out together: the caller that
// takes a free slot (the leader) sends the statements of every write
// waiting at that moment as one pipelined batch, which PostgreSQL runs as
// one implicit transaction with one commit, and each caller reads its own
// results from it.
//
// A group never waits for a row lock: its first statement locks the
// sessions its refreshes change, with NOWAIT, and its other statements
// change only rows those locks cover or rows they insert. So a group cannot
// deadlock with another group or with a single-statement change, and a
// write that meets a lock, a duplicate key or any other error the server
// reports has the whole group rolled back; every write of that group then
// runs again alone, as it would without group commit, and gets its own
// outcome. A write waiting alone (no other write queued) runs alone at
// once, so an idle server adds no latency.

// groupSlots bounds the groups in flight at once by default; maxGroup the
// writes of one group, so one commit's latency stays small.
const (
	groupSlots = 4
	maxGroup   = 64
)

// errAlone tells a write that its group was rolled back, so it must run
// alone, in its own transaction.
var errAlone = errors.New("pgstore: run alone")

// groupWrite is one write waiting for a group commit.
type groupWrite struct {
	ctx context.Context
	// key orders the group's writes (a session ID).
	key string
	// lock is a session the group locks (NOWAIT) before the statements of
	// any of its writes, or "": one statement for the whole group, in
	// place of one swapLock per refresh.
	lock string
	// queue adds the write's statements to the group's batch, which has
	// locked its sessions already. Their callbacks record the results for
	// the caller and return an error only for a row that cannot be read.
	queue func(b *pgx.Batch)
	// create, for a create: its rows, which a group with other creates
	// sends in their one statement (createset.go) instead of queue's.
	create *createRows
	// swap, for a refresh's swap: its rows, which a group with other
	// swaps may send in their one statement (swapset.go).
	swap *swapRows
	// alone runs the write in its own transaction, waiting for locks as
	// usual, and records its results like queue's callbacks.
	alone func(ctx context.Context) error
	done  chan error // the outcome, sent once
	groupcommit.Write
}

// groupQueue is the writes waiting for a leader, and the slots.
type groupQueue struct {
	groupcommit.Queue[*groupWrite]
	slots chan struct{}
}

// newGroupQueue returns the queue of a pool of maxConns connections with
// at most groups groups in flight (0: defaultWriteGroups); half of the
// connections at most may hold a group, so reads always find one.
func newGroupQueue(maxConns int32, groups int) *groupQueue {
	if groups == 0 {
		groups = defaultWriteGroups()
	}
	slots := min(groups, max(1, int(maxConns)/2))
	return &groupQueue{slots: make(chan struct{}, slots)}
}

// defaultWriteGroups is one group in flight per two CPUs this process may
// use, from 1 to groupSlots. Where PostgreSQL shares those CPUs, a second
// group in flight buys no CPU and halves the writes each commit carries:
// on a 2-CPU host with 32 clients, one group gave 5-15 % more logins and
// refreshes per second than two, and two 4-15 % more than four; with 4
// clients one group costs a write the wait for the group in flight
// (docs/PERFORMANCE.md, "PostgreSQL: fewer groups in flight").
func defaultWriteGroups() int { return min(groupSlots, max(1, runtime.GOMAXPROCS(0)/2)) }

// group runs w, in a group commit with the writes waiting beside it, or
// alone when none is (holding a slot all the same). It returns nil when
// w's statements committed (their callbacks have recorded its results), or
// w's error: the one w.alone returned, or the one that left a group's
// outcome unknown (the connection failed, the store closed), or ctx's when
// it ended before w was taken. Each write runs in a slot, so no more than
// the queue's slots (Options.WriteGroups) are in flight and the others
// wait together.
func (s *Store) group(ctx context.Context, w *groupWrite) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	// Counted once finished: the plan check that sees the count move
	// must see the rows too (plans.go).
	defer s.writes.Add(1)
	w.ctx = ctx
	w.done = make(chan error, 1)
	q := s.groups
	withdrawn, err := q.Run(ctx, w, w.done, q.slots, maxGroup, func(ws []*groupWrite) { s.runGroup(ctx, ws) })
	if withdrawn {
		return err
	}
	return s.rerun(w, err)
}

// rerun runs w alone when its group was rolled back (err is errAlone),
// outside any slot: such a write met a lock or a conflict, and waits for
// it on its own connection. Otherwise it returns err.
func (s *Store) rerun(w *groupWrite, err error) error {
	if errors.Is(err, errAlone) {
		return w.alone(w.ctx)
	}
	return err
}

// runGroup sends the writes of g as one batch, one implicit transaction,
// and sends each its outcome.
func (s *Store) runGroup(ctx context.Context, g []*groupWrite) {
	switch len(g) {
	case 0:
		return
	case 1:
		g[0].done <- g[0].alone(g[0].ctx)
		return
	}
	slices.SortStableFunc(g, func(a, b *groupWrite) int { return cmp.Compare(a.key, b.key) })
	b := &pgx.Batch{}
	var locks []string
	for _, w := range g {
		if w.lock != "" {
			locks = append(locks, w.lock)
		}
	}
	if locks != nil {
		b.Queue(s.q.groupLock, locks)
	}
	var creates []*createRows
	for _, w := range g {
		if w.create != nil {
			creates = append(creates, w.create)
		}
	}
	if len(creates) > 1 {
		query, args := s.q.createSetArgs(creates)
		b.Queue(query, args...)
	}
	swaps := setOfSwaps(g)
	if swaps != nil {
		s.queueSwapSet(b, swaps)
	}
	for _, w := range g {
		if (w.create != nil && len(creates) > 1) || (w.swap != nil && swaps != nil) {
			continue // in a set statement above
		}
		w.queue(b)
	}
	// The group outlives the leader's ctx (others wait on it) but not the
	// store, nor the last of its writes' deadlines.
	ctxs := make([]context.Context, len(g))
	for i, w := range g {
		ctxs[i] = w.ctx
	}
	gctx, stop := groupContext(ctx, s.bg, ctxs)
	defer stop()
	err := s.pool.SendBatch(gctx, b).Close()
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		// The server refused a statement, so it rolled the whole
		// transaction back: each write runs again on its own.
		err = errAlone
	}
	if err == nil {
		s.groupedWrites.Add(int64(len(g)))
	}
	for _, w := range g {
		w.done <- err
	}
}

// groupContext returns the context of a group led by the caller of ctx
// for callers with contexts ctxs: not canceled with ctx, but when bg (the
// store's) ends, and with the latest of ctxs' deadlines if each has one.
// Call stop when the group is done.
func groupContext(ctx, bg context.Context, ctxs []context.Context) (gctx context.Context, stop func()) {
	var cancel context.CancelFunc
	if last, ok := lastDeadline(ctxs); ok {
		gctx, cancel = context.WithDeadline(context.WithoutCancel(ctx), last)
	} else {
		gctx, cancel = context.WithCancel(context.WithoutCancel(ctx))
	}
	unhook := context.AfterFunc(bg, cancel)
	return gctx, func() { unhook(); cancel() }
}

// lastDeadline is the latest deadline of ctxs, if each has one.
func lastDeadline(ctxs []context.Context) (time.Time, bool) {
	var last time.Time
	for _, c := range ctxs {
		d, ok := c.Deadline()
		if !ok {
			return time.Time{}, false
		}
		if d.After(last) {
			last = d
		}
	}
	return last, true
}
