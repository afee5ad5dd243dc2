package memstore

import (
	"cmp"
	"context"
	"fmt"
	"slices"

	"github.com/sessiond/sessiond"
)

var _ sessiond.Limiter = (*Store)(nil)

// CreateLimited stores sess after making room under the subject's limit;
// see sessiond.Limiter. The whole step holds the store's lock, so
// concurrent logins cannot overshoot max.
func (s *Store) CreateLimited(ctx context.Context, sess *sessiond.Session, max int, evict bool, tokens ...sessiond.Token) ([]sessiond.Revocation, error) {
	if err := s.lock(ctx, "create session", sessiond.CheckNewSession(sess, tokens), sessiond.CheckMax(max)); err != nil {
		return nil, err
	}
	defer s.mu.Unlock()
	victims, err := s.victims(sess, max, evict, tokens)
	if err != nil {
		return nil, err
	}
	var out []sessiond.Revocation
	for _, rec := range victims {
		s.revoke(rec, sess.CreatedAt, sessiond.ReasonLimit)
		out = append(out, rec.revocation())
	}
	if err := s.createLocked(sess, tokens); err != nil {
		return nil, err
	}
	return out, nil
}

// victims returns the sessions a limited create of sess must evict, least
// recently active first, or ErrLimitReached without evict. It checks the
// insert can succeed before anything is evicted. s.mu is held.
func (s *Store) victims(sess *sessiond.Session, max int, evict bool, tokens []sessiond.Token) ([]*record, error) {
	now := sess.CreatedAt
	var live []*record
	for _, rec := range s.bySubject[sess.Subject] {
		if rec.s.Live(now) {
			live = append(live, rec)
		}
	}
	excess := len(live) - (max - 1)
	if excess <= 0 {
		return nil, nil
	}
	if !evict {
		return nil, fmt.Errorf("memstore: create session: %w", sessiond.ErrLimitReached)
	}
	slices.SortFunc(live, func(a, b *record) int {
		if c := a.s.LastActiveAt.Compare(b.s.LastActiveAt); c != 0 {
			return c
		}
		return cmp.Compare(a.s.ID, b.s.ID)
	})
	if _, ok := s.sessions[sess.ID]; ok {
		return nil, fmt.Errorf("memstore: create session: session ID exists: %w", sessiond.ErrConflict)
	}
	for _, t := range tokens {
		if _, ok := s.tokens[t.Hash]; ok {
			return nil, fmt.Errorf("memstore: create session: token hash exists: %w", sessiond.ErrConflict)
		}
	}
	return live[:excess], nil
}
