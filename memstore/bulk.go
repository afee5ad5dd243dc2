package memstore

import (
	"context"
	"slices"
	"time"

	"github.com/sessiond/sessiond"
)

var _ sessiond.BulkRevoker = (*Store)(nil)

// RevokeMatching revokes every session live at at that f selects, with
// reason; see sessiond.BulkRevoker. It returns how many it revoked and
// their distinct subjects, sorted. ErrInvalidArgument if f sets nothing.
func (s *Store) RevokeMatching(ctx context.Context, f sessiond.RevokeFilter, at time.Time, reason sessiond.RevokeReason) (int, []string, error) {
	const op = "revoke matching"
	if err := s.lock(ctx, op, f.Validate()); err != nil {
		return 0, nil, err
	}
	defer s.mu.Unlock()
	n := 0
	var subjects []string
	revoke := func(subject string, recs map[sessiond.SessionID]*record) {
		hit := false
		for _, rec := range recs {
			if !rec.s.Live(at) || !f.IssuedBefore.IsZero() && !rec.s.CreatedAt.Before(f.IssuedBefore) {
				continue
			}
			s.revoke(rec, at, reason)
			n++
			hit = true
		}
		if hit {
			subjects = append(subjects, subject)
		}
	}
	if len(f.Subjects) > 0 {
		seen := make(map[string]bool, len(f.Subjects))
		for _, subject := range f.Subjects {
			if !seen[subject] {
				seen[subject] = true
				revoke(subject, s.bySubject[subject])
			}
		}
	} else {
		for subject, recs := range s.bySubject {
			revoke(subject, recs)
		}
	}
	slices.Sort(subjects)
	return n, subjects, nil
}
