package pgstore

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/sessiond/sessiond"
)

var _ sessiond.BulkRevoker = (*Store)(nil)

// defaultRevokeBatch is how many sessions one statement of RevokeMatching
// revokes (docs/pgstore.md, "Incident revocation").
const defaultRevokeBatch = 50_000

// maxBatchRetries: a batch of RevokeMatching that loses a deadlock against
// a concurrent revocation is run again this many times.
const maxBatchRetries = 3

// RevokeMatching revokes every session live at at (not revoked, before
// both expiries) that f selects, with reason, and returns how many and
// their distinct subjects, sorted; see sessiond.BulkRevoker. Subjects are
// matched with subject = ANY($n), one array parameter however many there
// are; IssuedBefore is created_at strictly before it. ErrInvalidArgument
// if f sets nothing.
//
// It works in batches of about 50,000 sessions, each one statement and its
// own transaction, so no transaction holds more rows or WAL than that
// whatever the incident's size. Without subjects it first walks the table
// once in chunks of heap pages, two at a time (revokeWalk); then, and with
// subjects instead, it runs batches in the table's order until one comes
// back short (the sweep). It sends no
// notification per session: the Manager carries an incident revocation to
// every node through the watermark document it writes first, so the
// batches are the durable record, not the signal. If a call fails midway
// (the context ends, the server goes away), the batches already committed
// stay revoked and the error says how many; running it again finishes the
// job, since revoked sessions are not selected twice. A batch that loses a
// deadlock against a concurrent revocation is retried.
func (s *Store) RevokeMatching(ctx context.Context, f sessiond.RevokeFilter, at time.Time, reason sessiond.RevokeReason) (int, []string, error) {
	const op = "revoke matching"
	if err := s.begin(op, f.Validate()); err != nil {
		return 0, nil, err
	}
	if !validText(string(reason)) {
		return 0, nil, wrap(op, textError("reason"))
	}
	args := []any{at, string(reason)}
	if len(f.Subjects) > 0 {
		// A subject PostgreSQL cannot store has no session.
		subjects := slices.DeleteFunc(slices.Clone(f.Subjects), func(s string) bool { return !validText(s) })
		if len(subjects) == 0 {
			return 0, []string{}, nil
		}
		slices.Sort(subjects)
		args = append(args, slices.Compact(subjects))
	}
	if !f.IssuedBefore.IsZero() {
		args = append(args, f.IssuedBefore)
	}
	batch := s.revokeBatch
	if batch <= 0 {
		batch = defaultRevokeBatch
	}
	// Revocations finds these revocations by this row (they are not in
	// revocation_log), so it commits before the first of them.
	if _, err := s.pool.Exec(ctx, s.q.markBulk, at); err != nil {
		return 0, nil, s.translate(op, err)
	}
	rev := &revocation{seen: make(map[string]struct{})}
	if len(f.Subjects) == 0 {
		// Without subjects every row is a candidate: walk the table once.
		walkArgs := slices.Clip(args)
		if err := s.revokeWalk(ctx, s.q.revokeRangeSQL(!f.IssuedBefore.IsZero()), walkArgs, batch, rev); err != nil {
			n, subjects := rev.result()
			return n, subjects, rev.failed(s.translate(op, err))
		}
	}
	// The sweep: batches in the table's order until one comes back short.
	// After a walk it finds only the sessions a concurrent write moved
	// behind it (usually none, in one sequential scan); with subjects it
	// does the whole job through sessions_subject.
	query := s.q.revokeMatchingSQL(len(f.Subjects) > 0, !f.IssuedBefore.IsZero(), batch)
	for retries := 0; ; {
		n, err := s.revokeBatchOnce(ctx, query, args, rev)
		if err != nil {
			err = s.translate(op, err)
			if errors.Is(err, sessiond.ErrConflict) && retries < maxBatchRetries && ctx.Err() == nil {
				retries++
				continue
			}
			// What the committed batches ended stays ended: report it, so
			// the Manager records it (a re-run would not report it again).
			total, subjects := rev.result()
			return total, subjects, rev.failed(err)
		}
		if n < batch {
			break
		}
	}
	total, subjects := rev.result()
	return total, subjects, nil
}

// result is how many sessions the committed batches revoked, and their
// distinct subjects, sorted.
func (r *revocation) result() (int, []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	subjects := make([]string, 0, len(r.seen))
	for subject := range r.seen {
		subjects = append(subjects, subject)
	}
	slices.Sort(subjects)
	return r.total, subjects
}

// revocation adds up what the batches of one RevokeMatching call
// committed; the walk's workers share it.
type revocation struct {
	mu    sync.Mutex
	total int
	seen  map[string]struct{} // the distinct subjects revoked
}

// add records a committed batch: its subjects with how many each.
func (r *revocation) add(subjects []string, counts []int64) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for i, subject := range subjects {
		n += int(counts[i])
		r.seen[subject] = struct{}{}
	}
	r.total += n
	return n
}

// failed is err, saying how many sessions committed batches revoked.
func (r *revocation) failed(err error) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.total > 0 {
		return fmt.Errorf("%w (%d sessions revoked before the failure stay revoked; run it again to finish)", err, r.total)
	}
	return err
}

// revokeBatchOnce runs one batch of RevokeMatching in its own
// transaction, adds what it revoked to rev, and returns how many sessions
// that was.
func (s *Store) revokeBatchOnce(ctx context.Context, query string, args []any, rev *revocation) (int, error) {
	subjects, counts, err := collectRevoked(s.pool.Query(ctx, query, args...))
	if err != nil {
		return 0, err
	}
	return rev.add(subjects, counts), nil
}

// collectRevoked reads the (subject, count) rows of a revoking statement.
func collectRevoked(rows pgx.Rows, err error) ([]string, []int64, error) {
	if err != nil {
		return nil, nil, err
	}
	defer rows.Close()
	var (
		subjects []string
		counts   []int64
	)
	for rows.Next() {
		var (
			subject string
			count   int64
		)
		if err := rows.Scan(&subject, &count); err != nil {
			return nil, nil, err
		}
		subjects = append(subjects, subject)
		counts = append(counts, count)
	}
	return subjects, counts, rows.Err()
}

// walkWorkers bounds the chunks of RevokeMatching's table walk that run at
// once, each on its own pooled connection; the pool keeps at least half
// its connections for everything else.
const walkWorkers = 2

// revokeWalk revokes, in chunks of heap pages each about batch rows, the
// sessions the filter selects among the rows stored when it starts, with
// up to walkWorkers chunks in flight (docs/pgstore.md, "Incident
// revocation"). Rows stored later (the new versions its own updates
// write, sessions created or moved meanwhile) are past its end or behind
// it: the sweep after it finds those still live. On a server without TID
// range scans it does nothing and leaves the whole job to the sweep.
func (s *Store) revokeWalk(ctx context.Context, query string, args []any, batch int, rev *revocation) error {
	var (
		pages, estPages int64
		estRows         float64
		tidRange        bool
	)
	if err := s.pool.QueryRow(ctx, tableExtentSQL, s.q.schema+".sessions").Scan(&pages, &estPages, &estRows, &tidRange); err != nil {
		return err
	}
	if !tidRange || pages == 0 {
		return nil
	}
	perPage := float64(defaultRowsPerPage)
	if estPages > 0 && estRows > 0 {
		perPage = max(1, estRows/float64(estPages))
	}
	chunk := max(1, int64(float64(batch)/perPage))
	workers := min(walkWorkers, max(1, int(s.pool.Config().MaxConns)/2))

	// After a failure no chunk starts, but one in flight runs to its end
	// rather than be canceled: canceled after its commit, its sessions
	// would be revoked and not counted, and the count is what the
	// operator is told was revoked (the problem's revoked member).
	var (
		next     atomic.Int64
		stop     atomic.Bool
		wg       sync.WaitGroup
		once     sync.Once
		firstErr error
	)
	for range workers {
		wg.Go(func() {
			for {
				from := next.Add(chunk) - chunk
				if from >= pages || stop.Load() || ctx.Err() != nil {
					return
				}
				to := min(from+chunk, pages)
				if err := s.revokeChunk(ctx, query, args, from, to, rev); err != nil {
					once.Do(func() { firstErr = err })
					stop.Store(true)
					return
				}
			}
		})
	}
	wg.Wait()
	return firstErr
}

// defaultRowsPerPage guesses the sessions per heap page of a table never
// analyzed.
const defaultRowsPerPage = 40

// revokeChunk revokes the selected live sessions stored in heap pages
// [from, to), one transaction, retried when it loses a deadlock.
func (s *Store) revokeChunk(ctx context.Context, query string, args []any, from, to int64, rev *revocation) error {
	args = append(args,
		pgtype.TID{BlockNumber: uint32(from), Valid: true},
		pgtype.TID{BlockNumber: uint32(to), Valid: true})
	for retries := 0; ; retries++ {
		_, err := s.revokeBatchOnce(ctx, query, args, rev)
		if err == nil || retries == maxBatchRetries || ctx.Err() != nil || !errors.Is(translate("", err), sessiond.ErrConflict) {
			return err
		}
	}
}
