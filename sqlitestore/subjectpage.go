package sqlitestore

import (
	"context"
	"math"
	"time"

	"github.com/sessiond/sessiond"
)

var _ sessiond.SubjectPager = (*Store)(nil)

// pageColumns are sessionColumns, but the claims only of a session live at
// ?5 (a page's other sessions are read, not returned), then whether it is.
const pageColumns = `s.id, s.subject, s.strategy, s.created_at, s.last_active_at, s.idle_expires_at,
	s.expires_at, s.persistent, s.client_ip, s.client_ua,
	CASE WHEN ` + pageLive + ` THEN s.claims END, s.revoked_at, s.revoke_reason, ` + pageLive

const pageLive = `s.revoked_at IS NULL AND s.expires_at > ?5 AND s.idle_expires_at > ?5`

// The statements of ListPage: the next ?4 sessions of subject ?1 after the
// position (created_at ?2, id ?3), forwards or backwards: a range of
// sessions_subject (subject, created_at, id) (migration 0009) from the
// position, in the index's order, so a page reads its own rows only.
const (
	pageAfterQuery = `SELECT ` + pageColumns + ` FROM sessions s
		WHERE s.subject = ?1 AND (s.created_at, s.id) > (?2, ?3)
		ORDER BY s.created_at, s.id LIMIT ?4`
	pageBeforeQuery = `SELECT ` + pageColumns + ` FROM sessions s
		WHERE s.subject = ?1 AND (s.created_at, s.id) < (?2, ?3)
		ORDER BY s.created_at DESC, s.id DESC LIMIT ?4`
	spanQuery = `SELECT ` + sessionColumns + ` FROM sessions s
		WHERE s.subject = ? AND s.created_at = ? AND s.expires_at = ?
			AND s.revoked_at IS NULL AND s.expires_at > ? AND s.idle_expires_at > ?`
)

// ListPage reads up to q.Limit of the subject's sessions after q.After in
// the order of created_at, then id (backwards with q.Newest), and returns
// the live ones. It reads one row more than the page, to tell whether the
// walk goes on.
func (s *Store) ListPage(ctx context.Context, q sessiond.PageQuery) (sessiond.Page, error) {
	const op = "list page"
	from, err := sessiond.CheckPageQuery(q)
	if err != nil {
		return sessiond.Page{}, wrap(op, err)
	}
	query, at, id := pageAfterQuery, int64(math.MinInt64), ""
	if q.Newest {
		query, at = pageBeforeQuery, math.MaxInt64
	}
	if !from.IsZero() {
		at, id = micro(from.At), string(from.ID)
	}
	rows, err := s.db.QueryContext(ctx, query, q.Subject, at, id, q.Limit+1, micro(q.Now))
	if err != nil {
		return sessiond.Page{}, s.fail(op, err)
	}
	defer rows.Close()
	page := sessiond.Page{Sessions: []*sessiond.Session{}}
	var (
		last sessiond.PageCursor
		read int
	)
	for rows.Next() {
		if read++; read > q.Limit {
			page.Next = last.String()
			break
		}
		var (
			r    sessionScan
			live bool
		)
		sess := new(sessiond.Session)
		if err := rows.Scan(append(r.appendDest(make([]any, 0, sessionColumnCount+1), sess), &live)...); err != nil {
			return sessiond.Page{}, s.fail(op, err)
		}
		r.fill(sess)
		last = sessiond.PageCursor{At: sess.CreatedAt, ID: sess.ID}
		if live {
			page.Sessions = append(page.Sessions, sess)
		}
	}
	if err := rows.Err(); err != nil {
		return sessiond.Page{}, s.fail(op, err)
	}
	return page, nil
}

// ListSpan returns the subject's sessions live at now created at created
// and ending at expires: through sessions_subject, the rows of the subject
// created in that microsecond.
func (s *Store) ListSpan(ctx context.Context, subject string, created, expires, now time.Time) ([]*sessiond.Session, error) {
	return s.querySessions(ctx, "list span", spanQuery, subject, micro(created), micro(expires), micro(now), micro(now))
}
