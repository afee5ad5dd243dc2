package memstore

import (
	"context"
	"fmt"
	"time"

	"github.com/sessiond/sessiond"
)

var _ sessiond.ReplayGuard = (*Store)(nil)

// RememberOnce implements sessiond.ReplayGuard. Expired keys are swept on
// the way, at most once per call and only past their expiry.
func (s *Store) RememberOnce(ctx context.Context, key string, now, until time.Time) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, fmt.Errorf("memstore: remember once: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false, errClosed
	}
	if s.once == nil {
		s.once = map[string]time.Time{}
	}
	if !now.Before(s.onceSweep) {
		for k, exp := range s.once {
			if !now.Before(exp) {
				delete(s.once, k)
			}
		}
		s.onceSweep = now.Add(time.Minute)
	}
	if exp, ok := s.once[key]; ok && now.Before(exp) {
		return false, nil
	}
	s.once[key] = until
	return true, nil
}
