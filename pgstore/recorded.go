package pgstore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/sessiond/sessiond"
)

var _ sessiond.ChangeRecorder = (*Store)(nil)

// WritesChangeEvents reports that SwapRefresh stores the events and
// deliveries it carries in the swap's transaction (the same batch); see
// sessiond.ChangeEventWriter.
func (s *Store) WritesChangeEvents() bool { return true }

var _ sessiond.ChangeEventWriter = (*Store)(nil)

// CreateRecorded stores sess and its tokens as Create (max 0) or
// CreateLimited (max > 0) does, and in the same transaction rec and the
// records evicted returns for each evicted session; see
// sessiond.ChangeRecorder. Without a limit it is one round trip: the
// insert and the records go in one batch, which PostgreSQL runs as one
// implicit transaction, shared with the other logins and refreshes
// waiting at that moment (groupcommit.go).
func (s *Store) CreateRecorded(ctx context.Context, sess *sessiond.Session, max int, evict bool, rec sessiond.ChangeRecords,
	evicted func(sessiond.Revocation) sessiond.ChangeRecords, tokens ...sessiond.Token) ([]sessiond.Revocation, error) {
	if s.closed.Load() {
		return nil, errClosed
	}
	const op = "create session"
	if err := checkNew(sess, tokens); err != nil {
		return nil, fmt.Errorf("pgstore: %s: %w", op, err)
	}
	if max != 0 {
		if err := sessiond.CheckMax(max); err != nil {
			return nil, wrap(op, err)
		}
	}
	if max == 0 {
		evArgs, dArgs, err := recordArgs(rec)
		if err != nil {
			return nil, wrap(op, err)
		}
		// One statement: the session, its tokens and its records.
		query := s.q.createRec[withRecords(evArgs != nil, dArgs != nil)]
		own := insertArgs(sess, tokens)
		rows := &createRows{args: own, ev: evArgs, dl: dArgs}
		args := append(append(own[:len(own):len(own)], evArgs...), dArgs...)
		return nil, s.translate(op, s.insertGrouped(ctx, sess, rows, func(b *pgx.Batch) {
			b.Queue(query, args...)
		}))
	}
	evArgs, dArgs, err := recordArgs(rec)
	if err != nil {
		return nil, wrap(op, err)
	}
	var (
		out []sessiond.Revocation
		bad error // a record the store refuses
	)
	// The records go in the insert's batch (createLimited).
	records := func(b *pgx.Batch, out []sessiond.Revocation) error {
		s.queueRecordArgs(b, evArgs, dArgs)
		for _, r := range out {
			if evicted == nil {
				break
			}
			if bad = s.queueRecords(b, evicted(r)); bad != nil {
				return bad
			}
		}
		return nil
	}
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var err error
		out, err = s.createLimited(ctx, tx, sess, max, evict, tokens, records)
		return err
	})
	if bad != nil {
		return nil, wrap(op, bad)
	}
	return s.limitedResult(op, out, err)
}

// RevokeRecorded revokes as Revoke does and, when this call revokes the
// session, stores revoked(session) in the same transaction (nothing when
// revoked is nil: that is Revoke); see sessiond.ChangeRecorder.
func (s *Store) RevokeRecorded(ctx context.Context, id sessiond.SessionID, at time.Time, reason sessiond.RevokeReason,
	revoked func(*sessiond.Session) sessiond.ChangeRecords) (*sessiond.Session, bool, error) {
	if s.closed.Load() {
		return nil, false, errClosed
	}
	const op = "revoke session"
	if !validText(string(id)) {
		return nil, false, fmt.Errorf("pgstore: %s: %w", op, sessiond.ErrNotFound)
	}
	if !validText(string(reason)) {
		return nil, false, wrap(op, textError("reason"))
	}
	var (
		got      *sessiond.Session
		recorded bool
		bad      error // a record the store refuses
	)
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		recorded = false
		sess, err := scanSession(tx.QueryRow(ctx, s.q.revoke, string(id), at, string(reason)))
		if errors.Is(err, pgx.ErrNoRows) {
			// Already revoked, or absent. A new statement sees a
			// concurrent revoke that committed while we waited.
			got, err = scanSession(tx.QueryRow(ctx, s.q.get, string(id)))
			return err
		}
		if err != nil {
			return err
		}
		got = sess
		var rec sessiond.ChangeRecords
		if revoked != nil {
			rec = revoked(sess)
		}
		if err := s.notifyRecords(ctx, tx, []sessiond.Revocation{revocationOf(sess)}, rec, &bad); err != nil {
			return err
		}
		recorded = true
		return nil
	})
	if bad != nil {
		return nil, false, wrap(op, bad)
	}
	if err != nil {
		return nil, false, s.translate(op, err)
	}
	return got, recorded, nil
}

// notifyRecords sends the notifications of revs and writes rec in tx, as
// one batch: one round trip however many there are, which is what a
// revocation costs across a network (docs/PERFORMANCE.md, "A store across
// the network"). A record the store refuses is returned and also kept in
// *bad, so that once the transaction has rolled back the caller can tell
// bad input from a database error; nothing is sent then.
func (s *Store) notifyRecords(ctx context.Context, tx pgx.Tx, revs []sessiond.Revocation, rec sessiond.ChangeRecords, bad *error) error {
	b := &pgx.Batch{}
	if *bad = s.queueRecords(b, rec); *bad != nil {
		return *bad
	}
	s.queueNotify(b, revs)
	if b.Len() == 0 {
		return nil
	}
	return tx.SendBatch(ctx, b).Close()
}

// queueRecords checks a change's records and queues their inserts on b.
func (s *Store) queueRecords(b *pgx.Batch, rec sessiond.ChangeRecords) error {
	evArgs, dArgs, err := recordArgs(rec)
	if err != nil {
		return err
	}
	s.queueRecordArgs(b, evArgs, dArgs)
	return nil
}

// recordArgs checks a change's records and returns the arguments of their
// inserts (nil for none).
func recordArgs(rec sessiond.ChangeRecords) (evArgs, dArgs []any, err error) {
	if evArgs, err = eventArgs(rec.Events); err != nil {
		return nil, nil, err
	}
	if dArgs, err = deliveryArgs(rec.Deliveries); err != nil {
		return nil, nil, err
	}
	return evArgs, dArgs, nil
}

// queueRecordArgs queues the inserts of recordArgs on b.
func (s *Store) queueRecordArgs(b *pgx.Batch, evArgs, dArgs []any) {
	if evArgs != nil {
		b.Queue(s.q.appendEvents, evArgs...)
	}
	if dArgs != nil {
		b.Queue(s.q.enqueue, dArgs...)
	}
}

var _ sessiond.SubjectChangeRecorder = (*Store)(nil)

// RevokeSubjectRecorded revokes as RevokeSubject does and, when it revokes
// a session, stores revoked(revocations) in the same transaction; see
// sessiond.SubjectChangeRecorder.
func (s *Store) RevokeSubjectRecorded(ctx context.Context, subject string, except sessiond.SessionID, at time.Time,
	reason sessiond.RevokeReason, revoked func([]sessiond.Revocation) sessiond.ChangeRecords) ([]sessiond.Revocation, error) {
	return s.revokeSubject(ctx, subject, except, at, reason, revoked)
}

var _ sessiond.TouchRecorder = (*Store)(nil)

// TouchRecorded records activity as Touch does and, in the same
// statement, rec; see sessiond.TouchRecorder. The statement joins the
// group commit of the logins and refreshes waiting at that moment, as a
// swap does (one round trip, one commit shared with them); the group locks
// the session first without waiting, and a write that meets a lock runs
// again on its own.
func (s *Store) TouchRecorded(ctx context.Context, id sessiond.SessionID, lastActive, idleExpires time.Time, rec sessiond.ChangeRecords) error {
	if s.closed.Load() {
		return errClosed
	}
	const op = "touch session"
	if !validText(string(id)) {
		return fmt.Errorf("pgstore: %s: %w", op, sessiond.ErrNotFound)
	}
	evArgs, dArgs, err := recordArgs(rec)
	if err != nil {
		return wrap(op, err)
	}
	query := s.q.touchRec[withRecords(evArgs != nil, dArgs != nil)]
	args := append(append([]any{string(id), lastActive, idleExpires}, evArgs...), dArgs...)
	var touched, exists bool
	queue := func(b *pgx.Batch) {
		b.Queue(query, args...).QueryRow(func(row pgx.Row) error { return row.Scan(&touched, &exists) })
	}
	err = s.group(ctx, &groupWrite{
		key:   string(id),
		lock:  string(id),
		queue: queue,
		alone: func(ctx context.Context) error {
			b := &pgx.Batch{}
			queue(b)
			return s.pool.SendBatch(ctx, b).Close()
		},
	})
	switch {
	case err != nil:
		return s.translate(op, err)
	case touched:
		return nil
	case exists:
		return fmt.Errorf("pgstore: %s: %w", op, sessiond.ErrRevoked)
	}
	return fmt.Errorf("pgstore: %s: %w", op, sessiond.ErrNotFound)
}
