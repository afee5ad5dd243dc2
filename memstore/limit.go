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
// recently active first and at most sessiond.MaxLimitEvictions, or
// ErrLimitReached without evict. It checks the
// insert can succeed before anything is evicted. s.mu is held.
func (s *Store) victims(sess *sessiond.Session, max int, evict bool, tokens []sessiond.Token) ([]*record, error) {
	now := sess.CreatedAt
	// At most sessiond.LimitRead(max) live sessions, in the map's order:
	// the store's one lock is held, and a subject far over a lowered
	// limit would otherwise have all of its sessions read by each login.
	read := sessiond.LimitRead(max)
	var live []*record
	for _, rec := range s.bySubject[sess.Subject] {
		if len(live) == read {
			break
		}
		switch {
		case rec.s.Revoked():
			// Nothing reads a subject's revoked sessions but pages (which
			// skip them): without this, each limited login would read every
			// one again until it is collected.
			s.unindex(rec)
		case rec.s.Live(now):
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
	if _, ok := s.sessions[sess.ID]; ok {
		return nil, fmt.Errorf("memstore: create session: session ID exists: %w", sessiond.ErrConflict)
	}
	for _, t := range tokens {
		if _, ok := s.tokens[t.Hash]; ok {
			return nil, fmt.Errorf("memstore: create session: token hash exists: %w", sessiond.ErrConflict)
		}
	}
	return leastActive(live, min(excess, sessiond.MaxLimitEvictions)), nil
}

// leastActive returns the n least recently active of recs (then by ID),
// in that order. It keeps only those n sorted, not all of recs: a subject
// far over a lowered limit has many, and each of its logins evicts at
// most sessiond.MaxLimitEvictions.
func leastActive(recs []*record, n int) []*record {
	less := func(a, b *record) int {
		if c := a.s.LastActiveAt.Compare(b.s.LastActiveAt); c != 0 {
			return c
		}
		return cmp.Compare(a.s.ID, b.s.ID)
	}
	best := make([]*record, 0, n+1)
	for _, rec := range recs {
		if len(best) == n && less(rec, best[n-1]) >= 0 {
			continue
		}
		i, _ := slices.BinarySearchFunc(best, rec, less)
		best = slices.Insert(best, i, rec)
		if len(best) > n {
			best = best[:n]
		}
	}
	return best
}
