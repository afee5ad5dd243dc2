package sqlitestore

import (
	"context"
	"database/sql"

	"github.com/sessiond/sessiond"
)

var _ sessiond.Limiter = (*Store)(nil)

// CreateLimited stores sess after making room under the subject's limit
// (see sessiond.Limiter). It runs in one IMMEDIATE transaction, which holds
// SQLite's single write lock, so concurrent logins cannot overshoot max.
func (s *Store) CreateLimited(ctx context.Context, sess *sessiond.Session, max int, evict bool, tokens ...sessiond.Token) ([]sessiond.Revocation, error) {
	const op = "create session"
	if err := checkCreate(op, sess, tokens); err != nil {
		return nil, err
	}
	if err := sessiond.CheckMax(max); err != nil {
		return nil, wrap(op, err)
	}
	var out []sessiond.Revocation
	err := s.write(ctx, op, func(tx *sql.Tx) error {
		var err error
		out, err = s.createLimited(ctx, tx, sess, max, evict, tokens)
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// countLiveOfSubject counts a subject's sessions live at a time, up to a
// bound (sessiond.LimitRead).
const countLiveOfSubject = `SELECT count(*) FROM (SELECT 1 FROM sessions INDEXED BY sessions_subject_live
	WHERE subject = ? AND revoked_at IS NULL AND expires_at > ? AND idle_expires_at > ? LIMIT ?)`

// evictLeastActive revokes the least recently active of a subject's first
// live sessions (in the index's order: rowid, the order they were stored),
// so that a subject far over a lowered limit is not read whole.
const evictLeastActive = `UPDATE sessions SET revoked_at = ?, revoke_reason = ?
	WHERE id IN (SELECT id FROM (SELECT id, last_active_at FROM sessions INDEXED BY sessions_subject_live
			WHERE subject = ? AND id != ? AND revoked_at IS NULL AND expires_at > ? AND idle_expires_at > ? LIMIT ?)
		ORDER BY last_active_at, id LIMIT ?)
	RETURNING id, expires_at`

// createLimited is CreateLimited in tx. It evicts at most
// sessiond.MaxLimitEvictions.
func (s *Store) createLimited(ctx context.Context, tx *sql.Tx, sess *sessiond.Session, max int, evict bool, tokens []sessiond.Token) ([]sessiond.Revocation, error) {
	var out []sessiond.Revocation
	now := micro(sess.CreatedAt)
	err := func() error {
		// Through the index of sessions not revoked: the subject's
		// revoked sessions, kept until collected, are not read.
		read := sessiond.LimitRead(max)
		var live int
		if err := tx.QueryRowContext(ctx, countLiveOfSubject, sess.Subject, now, now, read).Scan(&live); err != nil {
			return err
		}
		excess := live - (max - 1)
		if excess > 0 && !evict {
			return sessiond.ErrLimitReached
		}
		excess = min(excess, sessiond.MaxLimitEvictions)
		// Insert first: a conflict must fail the whole step before anyone is evicted.
		if err := s.insertSession(ctx, tx, sess, tokens); err != nil {
			return err
		}
		if excess <= 0 {
			return nil
		}
		rows, err := tx.QueryContext(ctx, evictLeastActive,
			now, string(sessiond.ReasonLimit), sess.Subject, string(sess.ID), now, now, read, excess)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var id string
			var expires int64
			if err := rows.Scan(&id, &expires); err != nil {
				return err
			}
			out = append(out, sessiond.Revocation{SessionID: sessiond.SessionID(id), Subject: sess.Subject,
				RevokedAt: fromMicro(now), ExpiresAt: fromMicro(expires), Reason: sessiond.ReasonLimit})
		}
		return rows.Err()
	}()
	return out, err
}
