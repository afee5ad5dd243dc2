package pgstore

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/jackc/pgx/v5"
	"github.com/sessiond/sessiond"
)

var _ sessiond.Limiter = (*Store)(nil)

// CreateLimited stores sess and its tokens like Create after making room
// under a per-subject limit of max live sessions at sess.CreatedAt. The
// transaction holds an advisory lock on the subject, so concurrent calls
// for one subject (on any node) take turns and the limit holds. With evict
// it revokes the least recently active sessions (reason limit, at
// sess.CreatedAt, notified like Revoke) until max-1 remain, at most
// sessiond.MaxLimitEvictions, and returns them in that order; without, it stores nothing and fails with
// ErrLimitReached. ErrInvalidArgument if max is less than 1. If the
// insert fails (ErrConflict), the evictions are rolled back too.
func (s *Store) CreateLimited(ctx context.Context, sess *sessiond.Session, max int, evict bool, tokens ...sessiond.Token) ([]sessiond.Revocation, error) {
	if s.closed.Load() {
		return nil, errClosed
	}
	const op = "create limited session"
	if err := checkNew(sess, tokens); err != nil {
		return nil, fmt.Errorf("pgstore: %s: %w", op, err)
	}
	if err := sessiond.CheckMax(max); err != nil {
		return nil, wrap(op, err)
	}
	var out []sessiond.Revocation
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var err error
		out, err = s.createLimited(ctx, tx, sess, max, evict, tokens, nil)
		return err
	})
	return s.limitedResult(op, out, err)
}

// limitedResult turns the outcome of a limited create's transaction (its
// evictions out and error err) into what CreateLimited and CreateRecorded
// return: ErrLimitReached kept as is, other errors translated, and an
// empty, non-nil slice when nobody was evicted.
func (s *Store) limitedResult(op string, out []sessiond.Revocation, err error) ([]sessiond.Revocation, error) {
	if errors.Is(err, sessiond.ErrLimitReached) {
		return nil, fmt.Errorf("pgstore: %s: %w", op, sessiond.ErrLimitReached)
	}
	if err != nil {
		return nil, s.translate(op, err)
	}
	if out == nil {
		out = []sessiond.Revocation{}
	}
	return out, nil
}

// createLimited is CreateLimited in tx. records, if not nil, queues on b
// the change's records given the evictions; an error it returns ends the
// transaction. Round trips, which a store across a network pays in
// milliseconds each: the lock and the read of the subject's sessions as
// one batch, the evictions if any, then the notifications, the insert and
// the records as one batch (docs/PERFORMANCE.md, "A store across the
// network").
func (s *Store) createLimited(ctx context.Context, tx pgx.Tx, sess *sessiond.Session, max int, evict bool, tokens []sessiond.Token,
	records func(b *pgx.Batch, out []sessiond.Revocation) error) ([]sessiond.Revocation, error) {
	var out []sessiond.Revocation
	err := func() error {
		// live: the least recently active, at most as many as one login
		// evicts; n: how many there are, up to sessiond.LimitRead(max).
		var live []string
		var n int
		b := &pgx.Batch{}
		b.Queue(s.q.limitLock, sess.Subject)
		// A statement after the lock's, so a new snapshot taken once the
		// lock is held: it sees every session the previous holder of the
		// lock committed.
		b.Queue(s.q.liveBySubject, sess.Subject, sess.CreatedAt, sessiond.MaxLimitEvictions, sessiond.LimitRead(max)).Query(func(rows pgx.Rows) error {
			var id string
			_, err := pgx.ForEachRow(rows, []any{&id, &n}, func() error {
				live = append(live, id)
				return nil
			})
			return err
		})
		if err := tx.SendBatch(ctx, b).Close(); err != nil {
			return err
		}
		if n >= max {
			if !evict {
				return sessiond.ErrLimitReached
			}
			victims := live[:min(n-(max-1), len(live))]
			r, err := tx.Query(ctx, s.q.evict, victims, sess.CreatedAt, string(sessiond.ReasonLimit))
			if err != nil {
				return err
			}
			rr, err := scanRevocations(r)
			if err != nil {
				return err
			}
			order := make(map[sessiond.SessionID]int, len(victims))
			for i, id := range victims {
				order[sessiond.SessionID(id)] = i
			}
			slices.SortFunc(rr, func(a, b revocationRow) int {
				return cmp.Compare(order[a.r.SessionID], order[b.r.SessionID])
			})
			out = revocations(rr)
		}
		b = &pgx.Batch{}
		s.queueNotify(b, out)
		b.Queue(s.q.create, insertArgs(sess, tokens)...)
		if records != nil {
			if err := records(b, out); err != nil {
				return err
			}
		}
		return tx.SendBatch(ctx, b).Close()
	}()
	return out, err
}
