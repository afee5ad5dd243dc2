package sqlitestore

import (
	"context"
	"time"

	"github.com/sessiond/sessiond"
)

var _ sessiond.SubjectClientLister = (*Store)(nil)

// subjectClientsQuery selects what List does, without the rest of each
// session, in no order.
const subjectClientsQuery = `SELECT id, client_ip, client_ua FROM sessions
	WHERE subject = ? AND revoked_at IS NULL AND expires_at > ? AND idle_expires_at > ?`

// SubjectClients returns the ID and client of each of subject's sessions
// live at now. The rows are read one at a time as the statement steps, so
// what it holds is the result, not the sessions.
func (s *Store) SubjectClients(ctx context.Context, subject string, now time.Time) (map[sessiond.SessionID]sessiond.Client, error) {
	const op = "list subject clients"
	rows, err := s.db.QueryContext(ctx, subjectClientsQuery, subject, micro(now), micro(now))
	if err != nil {
		return nil, s.fail(op, err)
	}
	defer rows.Close()
	out := map[sessiond.SessionID]sessiond.Client{}
	for rows.Next() {
		var (
			id string
			c  sessiond.Client
		)
		if err := rows.Scan(&id, &c.IP, &c.UserAgent); err != nil {
			return nil, s.fail(op, err)
		}
		out[sessiond.SessionID(id)] = c
	}
	if err := rows.Err(); err != nil {
		return nil, s.fail(op, err)
	}
	return out, nil
}
