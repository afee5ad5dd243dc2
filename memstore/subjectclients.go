package memstore

import (
	"context"
	"time"

	"github.com/sessiond/sessiond"
)

var _ sessiond.SubjectClientLister = (*Store)(nil)

// SubjectClients returns the ID and client of each of subject's sessions
// live at now, copying nothing else of them (List copies claims too).
func (s *Store) SubjectClients(ctx context.Context, subject string, now time.Time) (map[sessiond.SessionID]sessiond.Client, error) {
	if err := s.rlock(ctx, "list subject clients"); err != nil {
		return nil, err
	}
	defer s.mu.RUnlock()
	out := map[sessiond.SessionID]sessiond.Client{}
	for _, rec := range s.bySubject[subject] {
		if rec.s.Live(now) {
			out[rec.s.ID] = rec.s.Client
		}
	}
	return out, nil
}
