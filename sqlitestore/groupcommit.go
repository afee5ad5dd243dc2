package sqlitestore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/sessiond/sessiond/internal/groupcommit"
)

// Group commit. SQLite has one writer, and each transaction's commit (the
// WAL frames it writes, the checkpoints they cause) costs about as much as
// the statements of a small write. So concurrent writes are batched: the
// caller that takes the write slot (the leader) runs every write waiting at
// that moment in one IMMEDIATE transaction, commits once, and hands each
// caller its own outcome. Writes almost always succeed, so the batch first
// runs them one after the other with nothing in between. Only when one
// fails is that transaction rolled back and the batch run again, each write
// in a savepoint: a write that fails rolls back to its savepoint, so it
// changes nothing and the others commit. A savepoint costs two statements
// and a copy of every page its write touches (the sub-journal), about a
// tenth of a refresh, which the first pass does without. If the commit
// fails, every write of the batch fails. The other callers wait for their
// outcome or for the slot, whichever comes first, so a write is never
// delayed by more than the batch ahead of it.
//
// So a write's fn may run twice; it must set whatever it reports from
// scratch on each run (every fn here assigns its results, never appends to
// them).

// The savepoint statements, prepared once (Store.writes).
const (
	savepointName   = "w"
	savepointQuery  = "SAVEPOINT " + savepointName
	rollbackToQuery = "ROLLBACK TO " + savepointName
	releaseQuery    = "RELEASE " + savepointName
)

// maxBatch bounds the writes of one transaction, so one commit's latency
// stays small.
const maxBatch = 64

// writeReq is one write waiting for a group commit.
type writeReq struct {
	ctx  context.Context
	fn   func(tx *sql.Tx) error
	done chan error // the outcome, sent once
	groupcommit.Write
}

// write runs fn in an IMMEDIATE transaction holding the write slot (with
// other concurrent writes, see group commit above), and commits if fn
// returns nil: fn's changes are committed exactly when write returns nil.
// Errors are translated by fail.
func (s *Store) write(ctx context.Context, op string, fn func(tx *sql.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("sqlitestore: %s: %w", op, err)
	}
	r := &writeReq{ctx: ctx, fn: fn, done: make(chan error, 1)}
	withdrawn, err := s.queue.Run(ctx, r, r.done, s.wsem, maxBatch, s.runBatch)
	if withdrawn {
		return fmt.Errorf("sqlitestore: %s: %w", op, err)
	}
	return s.outcome(op, err)
}

// outcome translates the error a write's fn, or its commit, returned.
func (s *Store) outcome(op string, err error) error {
	if err != nil {
		return s.fail(op, err)
	}
	return nil
}

// runBatch runs the writes in one transaction and sends each its outcome.
// The write slot is held.
func (s *Store) runBatch(batch []*writeReq) {
	if len(batch) == 0 {
		return
	}
	defer s.kickCheckpoint()
	finish := func(err error) {
		for _, r := range batch {
			if r != nil {
				r.done <- err
			}
		}
	}
	// The transaction outlives any one caller's ctx: each statement runs
	// under its own caller's.
	tx, err := s.begin(context.WithoutCancel(batch[0].ctx))
	if err != nil {
		finish(err)
		return
	}
	// First pass, no savepoints: if every write succeeds, commit them all.
	var first error
	for _, r := range batch {
		if first = r.fn(tx); first != nil {
			break
		}
	}
	if first == nil {
		finish(tx.Commit())
		return
	}
	// One failed: nothing of this pass commits. Alone, its error is the
	// outcome; otherwise the batch runs again, each write in a savepoint.
	// The rollback's error does not matter: SQLite may have rolled the
	// transaction back itself (a statement interrupted because its
	// caller's ctx ended takes the whole transaction with it), and if the
	// connection is unusable the next begin says so.
	_ = tx.Rollback()
	if len(batch) == 1 {
		batch[0].done <- first
		return
	}
	if tx, err = s.begin(context.WithoutCancel(batch[0].ctx)); err != nil {
		finish(err)
		return
	}
	failed := make([]error, len(batch))
	for i, r := range batch {
		if err := r.ctx.Err(); err != nil {
			// Its caller has gone: an interrupted statement would undo
			// the others' writes too, so it does not run again.
			failed[i] = err
			continue
		}
		err := s.inSavepoint(r.ctx, tx, r.fn)
		var broken errBroken
		if errors.As(err, &broken) {
			// The transaction cannot go on: nothing of this batch commits.
			_ = tx.Rollback()
			finish(broken.err)
			return
		}
		failed[i] = err
	}
	err = tx.Commit()
	for i, r := range batch {
		if err != nil {
			r.done <- err
		} else {
			r.done <- failed[i]
		}
	}
}

// begin starts a write transaction on the writer's connection, and takes a
// new connection from the pool if that one was lost. The write slot is
// held.
func (s *Store) begin(ctx context.Context) (*sql.Tx, error) {
	tx, err := s.wconn.BeginTx(ctx, nil)
	if !errors.Is(err, sql.ErrConnDone) || s.closed.Load() {
		return tx, err
	}
	c, cerr := writer(ctx, s.db)
	if cerr != nil {
		return nil, errors.Join(err, cerr)
	}
	_ = s.wconn.Close()
	s.wconn = c
	return s.wconn.BeginTx(ctx, nil)
}

// errBroken: a savepoint could not be rolled back or released, so the
// transaction is in an unknown state.
type errBroken struct{ err error }

func (e errBroken) Error() string { return e.err.Error() }

// inSavepoint runs fn in a savepoint of tx: on error its changes are rolled
// back and the error returned.
func (s *Store) inSavepoint(ctx context.Context, tx *sql.Tx, fn func(tx *sql.Tx) error) error {
	bg := context.WithoutCancel(ctx)
	if _, err := s.exec(bg, tx, savepointQuery); err != nil {
		return errBroken{err}
	}
	if err := fn(tx); err != nil {
		if _, rerr := s.exec(bg, tx, rollbackToQuery); rerr != nil {
			return errBroken{errors.Join(err, rerr)}
		}
		if _, rerr := s.exec(bg, tx, releaseQuery); rerr != nil {
			return errBroken{errors.Join(err, rerr)}
		}
		return err
	}
	if _, err := s.exec(bg, tx, releaseQuery); err != nil {
		return errBroken{err}
	}
	return nil
}
