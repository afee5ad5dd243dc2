package memstore

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/sessiond/sessiond"
)

// Create stores s and its tokens, all or nothing. It returns ErrConflict if
// the session ID or a token hash already exists (or repeats within tokens),
// and ErrInvalidArgument if a token names another session.
func (s *Store) Create(ctx context.Context, sess *sessiond.Session, tokens ...sessiond.Token) error {
	if err := s.lock(ctx, "create session", sessiond.CheckNewSession(sess, tokens)); err != nil {
		return err
	}
	defer s.mu.Unlock()
	return s.createLocked(sess, tokens)
}

// createLocked stores sess and its tokens; s.mu is held for writing.
func (s *Store) createLocked(sess *sessiond.Session, tokens []sessiond.Token) error {
	if _, ok := s.sessions[sess.ID]; ok {
		return fmt.Errorf("memstore: create session: session ID exists: %w", sessiond.ErrConflict)
	}
	for i, t := range tokens {
		if _, ok := s.tokens[t.Hash]; ok {
			return fmt.Errorf("memstore: create session: token hash exists: %w", sessiond.ErrConflict)
		}
		for _, u := range tokens[:i] {
			if u.Hash == t.Hash {
				return fmt.Errorf("memstore: create session: token hash repeated: %w", sessiond.ErrConflict)
			}
		}
	}

	rec := &record{s: *sess, tokens: make([]sessiond.TokenHash, 0, len(tokens))}
	rec.s.Claims = cloneBytes(sess.Claims)
	s.sessions[rec.s.ID] = rec
	sub := s.bySubject[rec.s.Subject]
	if sub == nil {
		sub = make(map[sessiond.SessionID]*record)
		s.bySubject[rec.s.Subject] = sub
	}
	sub[rec.s.ID] = rec
	if rec.s.Revoked() {
		s.revoked[rec.s.ID] = rec
		s.revOrder.add(rec.revocation())
	}
	for _, t := range tokens {
		s.addToken(rec, t)
	}
	return nil
}

// addToken stores t as a token of rec; s.mu is held for writing.
func (s *Store) addToken(rec *record, t sessiond.Token) {
	tr := &tokenRecord{t: t, rec: rec}
	s.tokens[t.Hash] = tr
	rec.tokens = append(rec.tokens, t.Hash)
	if t.Kind == sessiond.KindRefresh && t.RetiredAt.IsZero() {
		rec.current = append(rec.current, tr)
	}
}

// Get returns the session with ID id, revoked and expired ones included, or
// ErrNotFound.
func (s *Store) Get(ctx context.Context, id sessiond.SessionID) (*sessiond.Session, error) {
	if err := s.rlock(ctx, "get session"); err != nil {
		return nil, err
	}
	defer s.mu.RUnlock()
	rec, ok := s.sessions[id]
	if !ok {
		return nil, errGetNotFound
	}
	return rec.clone(), nil
}

// Lookup returns the token with hash h and its session, or ErrNotFound. It
// allocates only the returned session (and its Claims).
func (s *Store) Lookup(ctx context.Context, h sessiond.TokenHash) (sessiond.Token, *sessiond.Session, error) {
	if err := s.rlock(ctx, "lookup token"); err != nil {
		return sessiond.Token{}, nil, err
	}
	defer s.mu.RUnlock()
	tr, ok := s.tokens[h]
	if !ok {
		return sessiond.Token{}, nil, errLookupNotFound
	}
	return tr.t, tr.rec.clone(), nil
}

// Touch records activity on session id. ErrNotFound if the session does
// not exist, ErrRevoked if it is revoked (nothing changes).
func (s *Store) Touch(ctx context.Context, id sessiond.SessionID, lastActive, idleExpires time.Time) error {
	if err := s.lock(ctx, "touch session"); err != nil {
		return err
	}
	defer s.mu.Unlock()
	return s.touch(id, lastActive, idleExpires)
}

// touch is Touch with s.mu held.
func (s *Store) touch(id sessiond.SessionID, lastActive, idleExpires time.Time) error {
	rec, ok := s.sessions[id]
	if !ok {
		return fmt.Errorf("memstore: touch session: %w", sessiond.ErrNotFound)
	}
	if rec.s.Revoked() {
		return fmt.Errorf("memstore: touch session: %w", sessiond.ErrRevoked)
	}
	rec.activity(lastActive, idleExpires)
	return nil
}

// activity records activity at last, idle until idle, never moving either
// back: a node whose clock is behind must not shorten a session that a
// node ahead has just extended.
func (r *record) activity(last, idle time.Time) {
	if last.After(r.s.LastActiveAt) {
		r.s.LastActiveAt = last
	}
	if idle.After(r.s.IdleExpiresAt) {
		r.s.IdleExpiresAt = idle
	}
}

// SwapRefresh retires sw.Old and stores sw.Next in one step, and writes the
// session's activity. ErrNotFound if Old is not a stored refresh token,
// ErrInvalidArgument if Next is not a refresh token of Old's session,
// ErrRevoked if that session is revoked, ErrRefreshReused if Old was
// retired outside the grace window, ErrConflict if Next's hash exists
// (the first that applies, in this order); in each case nothing changes.
func (s *Store) SwapRefresh(ctx context.Context, sw sessiond.RefreshSwap) error {
	details, err := sessiond.EncodeEvents(sw.Events)
	if err := s.lock(ctx, "swap refresh token", sw.Validate(), err); err != nil {
		return err
	}
	defer s.mu.Unlock()
	old, ok := s.tokens[sw.Old]
	if !ok || old.t.Kind != sessiond.KindRefresh {
		return fmt.Errorf("memstore: swap refresh token: %w", sessiond.ErrNotFound)
	}
	if err := sw.CheckSession(old.t.SessionID); err != nil {
		return fmt.Errorf("memstore: swap refresh token: %w", err)
	}
	// Decided under the lock, so a revocation that lands after the
	// caller's check but before the swap still refuses it.
	if old.rec.s.Revoked() {
		return fmt.Errorf("memstore: swap refresh token: %w", sessiond.ErrRevoked)
	}
	if !old.t.RetiredAt.IsZero() && !sw.InGrace(old.t.RetiredAt) {
		return fmt.Errorf("memstore: swap refresh token: %w", sessiond.ErrRefreshReused)
	}
	if _, ok := s.tokens[sw.Next.Hash]; ok {
		return fmt.Errorf("memstore: swap refresh token: next token hash exists: %w", sessiond.ErrConflict)
	}

	// Next becomes the session's only current refresh token: Old and any
	// sibling issued by an earlier swap within the grace window retire, so
	// one token never forks into several live chains.
	rec := old.rec
	for _, t := range rec.current {
		t.t.RetiredAt = sw.Now
	}
	rec.current = rec.current[:0]
	s.addToken(rec, sw.Next)
	rec.activity(sw.LastActiveAt, sw.IdleExpiresAt)
	s.appendEvents(sw.Events, details)
	s.enqueue(sw.Deliveries)
	return nil
}

// Revoke marks session id revoked at at for reason and returns it. A session
// already revoked is returned unchanged. ErrNotFound.
func (s *Store) Revoke(ctx context.Context, id sessiond.SessionID, at time.Time, reason sessiond.RevokeReason) (*sessiond.Session, error) {
	if err := s.lock(ctx, "revoke session"); err != nil {
		return nil, err
	}
	defer s.mu.Unlock()
	rec, ok := s.sessions[id]
	if !ok {
		return nil, fmt.Errorf("memstore: revoke session: %w", sessiond.ErrNotFound)
	}
	if !rec.s.Revoked() {
		s.revoke(rec, at, reason)
	}
	return rec.clone(), nil
}

func (s *Store) revoke(rec *record, at time.Time, reason sessiond.RevokeReason) {
	rec.s.RevokedAt = at
	rec.s.RevokeReason = reason
	s.revoked[rec.s.ID] = rec
	s.revOrder.add(rec.revocation())
}

// unindex drops rec from its subject's sessions; s.mu is held for writing.
func (s *Store) unindex(rec *record) {
	if sub := s.bySubject[rec.s.Subject]; sub != nil {
		delete(sub, rec.s.ID)
		if len(sub) == 0 {
			delete(s.bySubject, rec.s.Subject)
		}
	}
}

// liveOfSubjectLocked returns subject's sessions live at at, except the one
// with ID except, oldest first; s.mu is held.
func (s *Store) liveOfSubjectLocked(subject string, except sessiond.SessionID, at time.Time) []*record {
	var recs []*record
	for id, rec := range s.bySubject[subject] {
		if id != except && rec.s.Live(at) {
			recs = append(recs, rec)
		}
	}
	sortRecords(recs)
	return recs
}

// RevokeSubject revokes every session of subject live at at (not revoked,
// before both expiries) except the one with ID except, and returns what it
// revoked, oldest session first.
func (s *Store) RevokeSubject(ctx context.Context, subject string, except sessiond.SessionID, at time.Time, reason sessiond.RevokeReason) ([]sessiond.Revocation, error) {
	return s.RevokeSubjectRecorded(ctx, subject, except, at, reason, nil)
}

// sortRecords orders records oldest first, by ID among equals, so results
// do not depend on map order.
func sortRecords(recs []*record) {
	slices.SortFunc(recs, func(a, b *record) int {
		if c := a.s.CreatedAt.Compare(b.s.CreatedAt); c != 0 {
			return c
		}
		return cmp.Compare(a.s.ID, b.s.ID)
	})
}

// List returns subject's sessions live at now, oldest first; an empty,
// non-nil slice when there are none.
func (s *Store) List(ctx context.Context, subject string, now time.Time) ([]*sessiond.Session, error) {
	if err := s.rlock(ctx, "list sessions"); err != nil {
		return nil, err
	}
	defer s.mu.RUnlock()
	var recs []*record
	for _, rec := range s.bySubject[subject] {
		if rec.s.Live(now) {
			recs = append(recs, rec)
		}
	}
	sortRecords(recs)
	out := make([]*sessiond.Session, len(recs))
	for i, rec := range recs {
		out[i] = rec.clone()
	}
	return out, nil
}

// Revocations returns the sessions revoked at or after since whose absolute
// expiry is after since, in order of revocation.
func (s *Store) Revocations(ctx context.Context, since time.Time) ([]sessiond.Revocation, error) {
	if err := s.rlock(ctx, "list revocations"); err != nil {
		return nil, err
	}
	defer s.mu.RUnlock()
	out := []sessiond.Revocation{}
	for _, rec := range s.revoked {
		if !rec.s.RevokedAt.Before(since) && rec.s.ExpiresAt.After(since) {
			out = append(out, rec.revocation())
		}
	}
	slices.SortFunc(out, sessiond.CompareRevocations)
	return out, nil
}

// DeleteExpired deletes up to limit sessions, with their tokens, whose
// absolute or idle expiry is before before, and returns how many it
// deleted. ErrInvalidArgument if limit is not positive.
func (s *Store) DeleteExpired(ctx context.Context, before time.Time, limit int) (int, error) {
	if err := s.lock(ctx, "delete expired sessions", sessiond.CheckLimit(limit)); err != nil {
		return 0, err
	}
	defer s.mu.Unlock()
	n := 0
	for id, rec := range s.sessions {
		if n == limit {
			break
		}
		if !rec.s.ExpiresAt.Before(before) && !rec.s.IdleExpiresAt.Before(before) {
			continue
		}
		for _, h := range rec.tokens {
			delete(s.tokens, h)
		}
		delete(s.sessions, id)
		if _, ok := s.revoked[id]; ok {
			delete(s.revoked, id)
			s.revOrder.stale++
		}
		s.unindex(rec)
		n++
	}
	s.revOrder.compact(s.revoked)
	return n, nil
}
