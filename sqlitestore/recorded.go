package sqlitestore

import (
	"context"
	"database/sql"
	"time"

	"github.com/sessiond/sessiond"
)

var _ sessiond.ChangeRecorder = (*Store)(nil)

// WritesChangeEvents reports that SwapRefresh stores the events and
// deliveries it carries in the swap's transaction; see
// sessiond.ChangeEventWriter.
func (s *Store) WritesChangeEvents() bool { return true }

var _ sessiond.ChangeEventWriter = (*Store)(nil)

// CreateRecorded stores sess and its tokens as Create (max 0) or
// CreateLimited (max > 0) does, and in the same transaction rec and the
// records evicted returns for each evicted session; see
// sessiond.ChangeRecorder.
func (s *Store) CreateRecorded(ctx context.Context, sess *sessiond.Session, max int, evict bool, rec sessiond.ChangeRecords,
	evicted func(sessiond.Revocation) sessiond.ChangeRecords, tokens ...sessiond.Token) ([]sessiond.Revocation, error) {
	const op = "create session"
	if err := checkCreate(op, sess, tokens); err != nil {
		return nil, err
	}
	if max != 0 {
		if err := sessiond.CheckMax(max); err != nil {
			return nil, wrap(op, err)
		}
	}
	enc, err := checkRecords(rec)
	if err != nil {
		return nil, wrap(op, err)
	}
	var out []sessiond.Revocation
	err = s.write(ctx, op, func(tx *sql.Tx) error {
		var err error
		if max > 0 {
			if out, err = s.createLimited(ctx, tx, sess, max, evict, tokens); err != nil {
				return err
			}
			for _, r := range out {
				if evicted == nil {
					break
				}
				if err := s.insertRecords(ctx, tx, evicted(r)); err != nil {
					return err
				}
			}
		} else if err := s.insertSession(ctx, tx, sess, tokens); err != nil {
			return err
		}
		if err := s.insertEvents(ctx, tx, rec.Events, enc); err != nil {
			return err
		}
		return s.insertDeliveries(ctx, tx, rec.Deliveries)
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// RevokeRecorded revokes as Revoke does and, when this call revokes the
// session, stores revoked(session) in the same transaction; see
// sessiond.ChangeRecorder.
func (s *Store) RevokeRecorded(ctx context.Context, id sessiond.SessionID, at time.Time, reason sessiond.RevokeReason,
	revoked func(*sessiond.Session) sessiond.ChangeRecords) (*sessiond.Session, bool, error) {
	var (
		sess     *sessiond.Session
		recorded bool
	)
	err := s.write(ctx, "revoke session", func(tx *sql.Tx) error {
		recorded = false
		res, err := tx.ExecContext(ctx, `UPDATE sessions SET revoked_at = ?, revoke_reason = ?
			WHERE id = ? AND revoked_at IS NULL`, micro(at), string(reason), string(id))
		if err != nil {
			return err
		}
		if sess, err = scanSession(tx.QueryRowContext(ctx, getQuery, string(id))); err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n == 0 {
			return err
		}
		// This call revoked it, with or without records to write: the
		// Manager tells by this whether to record the revocation after.
		recorded = true
		if revoked == nil {
			return nil
		}
		return s.insertRecords(ctx, tx, revoked(sess))
	})
	if err != nil {
		return nil, false, err
	}
	return sess, recorded, nil
}

// checkRecords checks a change's records and returns its events' encoded
// details.
func checkRecords(rec sessiond.ChangeRecords) ([][]byte, error) {
	if err := sessiond.CheckChangeEvents(rec.Events, rec.Deliveries); err != nil {
		return nil, err
	}
	return sessiond.EncodeEvents(rec.Events)
}

// insertRecords checks and stores a change's records in tx.
func (s *Store) insertRecords(ctx context.Context, tx *sql.Tx, rec sessiond.ChangeRecords) error {
	enc, err := checkRecords(rec)
	if err != nil {
		return err
	}
	if err := s.insertEvents(ctx, tx, rec.Events, enc); err != nil {
		return err
	}
	return s.insertDeliveries(ctx, tx, rec.Deliveries)
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
// transaction, rec; see sessiond.TouchRecorder.
func (s *Store) TouchRecorded(ctx context.Context, id sessiond.SessionID, lastActive, idleExpires time.Time, rec sessiond.ChangeRecords) error {
	const op = "touch session"
	enc, err := checkRecords(rec)
	if err != nil {
		return wrap(op, err)
	}
	return s.write(ctx, op, func(tx *sql.Tx) error {
		if err := touch(ctx, tx, id, lastActive, idleExpires); err != nil {
			return err
		}
		if err := s.insertEvents(ctx, tx, rec.Events, enc); err != nil {
			return err
		}
		return s.insertDeliveries(ctx, tx, rec.Deliveries)
	})
}
