package memstore

import (
	"context"
	"fmt"
	"time"

	"github.com/sessiond/sessiond"
)

var _ sessiond.ChangeRecorder = (*Store)(nil)

// WritesChangeEvents reports that SwapRefresh stores the events and
// deliveries it carries with the swap; see sessiond.ChangeEventWriter.
func (s *Store) WritesChangeEvents() bool { return true }

var _ sessiond.ChangeEventWriter = (*Store)(nil)

// CreateRecorded stores sess and its tokens as Create (max 0) or
// CreateLimited (max > 0) does, and under the same lock rec and the records
// evicted returns for each evicted session; see sessiond.ChangeRecorder.
func (s *Store) CreateRecorded(ctx context.Context, sess *sessiond.Session, max int, evict bool, rec sessiond.ChangeRecords,
	evicted func(sessiond.Revocation) sessiond.ChangeRecords, tokens ...sessiond.Token) ([]sessiond.Revocation, error) {
	details, err := sessiond.EncodeEvents(rec.Events)
	checks := []error{sessiond.CheckNewSession(sess, tokens), err, sessiond.CheckChangeEvents(rec.Events, rec.Deliveries)}
	if max != 0 {
		checks = append(checks, sessiond.CheckMax(max))
	}
	if err := s.lock(ctx, "create session", checks...); err != nil {
		return nil, err
	}
	defer s.mu.Unlock()
	var out []sessiond.Revocation
	if max > 0 {
		victims, err := s.victims(sess, max, evict, tokens)
		if err != nil {
			return nil, err
		}
		// Check the eviction records before anything changes.
		type evRec struct {
			recs    sessiond.ChangeRecords
			details [][]byte
		}
		recs := make([]evRec, len(victims))
		for i, v := range victims {
			if evicted == nil {
				break
			}
			r := v.revocation()
			r.RevokedAt, r.Reason = sess.CreatedAt, sessiond.ReasonLimit
			recs[i].recs = evicted(r)
			d, err := sessiond.EncodeEvents(recs[i].recs.Events)
			if err == nil {
				err = sessiond.CheckEnqueue(recs[i].recs.Deliveries)
			}
			if err != nil {
				return nil, fmt.Errorf("memstore: create session: %w", err)
			}
			recs[i].details = d
		}
		for i, v := range victims {
			s.revoke(v, sess.CreatedAt, sessiond.ReasonLimit)
			out = append(out, v.revocation())
			s.appendEvents(recs[i].recs.Events, recs[i].details)
			s.enqueue(recs[i].recs.Deliveries)
		}
	}
	if err := s.createLocked(sess, tokens); err != nil {
		return nil, err
	}
	s.appendEvents(rec.Events, details)
	s.enqueue(rec.Deliveries)
	return out, nil
}

// RevokeRecorded revokes as Revoke does and, when this call revokes the
// session, stores revoked(session) under the same lock; see
// sessiond.ChangeRecorder.
func (s *Store) RevokeRecorded(ctx context.Context, id sessiond.SessionID, at time.Time, reason sessiond.RevokeReason,
	revoked func(*sessiond.Session) sessiond.ChangeRecords) (*sessiond.Session, bool, error) {
	if err := s.lock(ctx, "revoke session"); err != nil {
		return nil, false, err
	}
	defer s.mu.Unlock()
	rec, ok := s.sessions[id]
	if !ok {
		return nil, false, fmt.Errorf("memstore: revoke session: %w", sessiond.ErrNotFound)
	}
	if rec.s.Revoked() {
		return rec.clone(), false, nil
	}
	after := rec.clone()
	after.RevokedAt, after.RevokeReason = at, reason
	var recs sessiond.ChangeRecords
	var details [][]byte
	if revoked != nil {
		recs = revoked(after)
		var err error
		if details, err = sessiond.EncodeEvents(recs.Events); err == nil {
			err = sessiond.CheckEnqueue(recs.Deliveries)
		}
		if err != nil {
			return nil, false, fmt.Errorf("memstore: revoke session: %w", err)
		}
	}
	s.revoke(rec, at, reason)
	s.appendEvents(recs.Events, details)
	s.enqueue(recs.Deliveries)
	return rec.clone(), true, nil
}

var _ sessiond.SubjectChangeRecorder = (*Store)(nil)

// RevokeSubjectRecorded revokes as RevokeSubject does and, when it revokes
// a session, stores revoked(revocations) under the same lock; see
// sessiond.SubjectChangeRecorder.
func (s *Store) RevokeSubjectRecorded(ctx context.Context, subject string, except sessiond.SessionID, at time.Time,
	reason sessiond.RevokeReason, revoked func([]sessiond.Revocation) sessiond.ChangeRecords) ([]sessiond.Revocation, error) {
	if err := s.lock(ctx, "revoke subject"); err != nil {
		return nil, err
	}
	defer s.mu.Unlock()
	recs := s.liveOfSubjectLocked(subject, except, at)
	out := make([]sessiond.Revocation, 0, len(recs))
	for _, rec := range recs {
		r := rec.revocation()
		r.RevokedAt, r.Reason = at, reason
		out = append(out, r)
	}
	var (
		rs      sessiond.ChangeRecords
		details [][]byte
	)
	if len(out) > 0 && revoked != nil {
		// Check the records before anything changes.
		rs = revoked(out)
		var err error
		if details, err = sessiond.EncodeEvents(rs.Events); err == nil {
			err = sessiond.CheckEnqueue(rs.Deliveries)
		}
		if err != nil {
			return nil, fmt.Errorf("memstore: revoke subject: %w", err)
		}
	}
	for i, rec := range recs {
		s.revoke(rec, at, reason)
		out[i] = rec.revocation()
	}
	s.appendEvents(rs.Events, details)
	s.enqueue(rs.Deliveries)
	return out, nil
}

var _ sessiond.TouchRecorder = (*Store)(nil)

// TouchRecorded records activity as Touch does and, under the same lock,
// rec; see sessiond.TouchRecorder.
func (s *Store) TouchRecorded(ctx context.Context, id sessiond.SessionID, lastActive, idleExpires time.Time, rec sessiond.ChangeRecords) error {
	details, err := sessiond.EncodeEvents(rec.Events)
	if err := s.lock(ctx, "touch session", err, sessiond.CheckChangeEvents(rec.Events, rec.Deliveries)); err != nil {
		return err
	}
	defer s.mu.Unlock()
	if err := s.touch(id, lastActive, idleExpires); err != nil {
		return err
	}
	s.appendEvents(rec.Events, details)
	s.enqueue(rec.Deliveries)
	return nil
}
