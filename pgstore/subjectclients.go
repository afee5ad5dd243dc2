package pgstore

import (
	"context"
	"time"

	"github.com/sessiond/sessiond"
)

var _ sessiond.SubjectClientLister = (*Store)(nil)

// SubjectClients returns the ID and client of each of subject's sessions
// live at now. pgx reads the rows as they arrive, so what it holds is the
// result, not the sessions.
func (s *Store) SubjectClients(ctx context.Context, subject string, now time.Time) (map[sessiond.SessionID]sessiond.Client, error) {
	if s.closed.Load() {
		return nil, errClosed
	}
	const op = "list subject clients"
	out := map[sessiond.SessionID]sessiond.Client{}
	if !validText(subject) {
		return out, nil // PostgreSQL's text cannot hold it, so no session has it
	}
	rows, err := s.pool.Query(ctx, s.q.subjectClients, subject, now)
	if err != nil {
		return nil, s.translate(op, err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			id string
			c  sessiond.Client
		)
		if err := rows.Scan(&id, &c.IP, &c.UserAgent); err != nil {
			return nil, s.translate(op, err)
		}
		out[sessiond.SessionID(id)] = c
	}
	if err := rows.Err(); err != nil {
		return nil, s.translate(op, err)
	}
	return out, nil
}
