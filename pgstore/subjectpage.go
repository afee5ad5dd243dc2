package pgstore

import (
	"context"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgtype"

	"github.com/sessiond/sessiond"
)

var _ sessiond.SubjectPager = (*Store)(nil)

// pageLive is whether a page's session is live at $5.
const pageLive = `(s.revoked_at IS NULL AND s.expires_at > $5 AND s.idle_expires_at > $5)`

// pageQueries fills in SubjectPager's statements. A page is the next $4
// sessions of subject $1 after the position (created_at $2, id $3),
// forwards or backwards, read through sessions_subject (subject,
// created_at) from that position on: its own rows, and those of the
// subject created in the same microsecond as its last (sorted on id),
// never the rest of the subject. Each row says whether it is live; the
// claims (TOASTed when large) are read only of those that are.
func pageQueries(q *queries) {
	cols := strings.Replace(sessionCols, "s.claims", "CASE WHEN "+pageLive+" THEN s.claims END", 1) + ", " + pageLive
	r := strings.NewReplacer("{schema}", q.schema, "{pagecols}", cols, "{cols}", sessionCols)
	q.pageAfter = r.Replace(`SELECT {pagecols} FROM {schema}.sessions s
		WHERE s.subject = $1 AND (s.created_at, s.id) > ($2, $3)
		ORDER BY s.created_at, s.id LIMIT $4`)
	q.pageBefore = r.Replace(`SELECT {pagecols} FROM {schema}.sessions s
		WHERE s.subject = $1 AND (s.created_at, s.id) < ($2, $3)
		ORDER BY s.created_at DESC, s.id DESC LIMIT $4`)
	// A rotation's family: the subject's sessions of one created_at.
	q.span = r.Replace(`SELECT {cols} FROM {schema}.sessions s
		WHERE s.subject = $1 AND s.created_at = $2 AND s.expires_at = $3
			AND s.revoked_at IS NULL AND s.expires_at > $4 AND s.idle_expires_at > $4`)
}

// ListPage reads up to q.Limit of the subject's sessions after q.After in
// the order of created_at, then id (backwards with q.Newest), and returns
// the live ones. It reads one row more than the page, to tell whether the
// walk goes on.
func (s *Store) ListPage(ctx context.Context, q sessiond.PageQuery) (sessiond.Page, error) {
	const op = "list page"
	from, err := sessiond.CheckPageQuery(q)
	if err := s.begin(op, err); err != nil {
		return sessiond.Page{}, err
	}
	page := sessiond.Page{Sessions: []*sessiond.Session{}}
	if !validText(q.Subject) {
		return page, nil // PostgreSQL's text cannot hold it, so no session has it
	}
	query, at, id := s.q.pageAfter, pgtype.Timestamptz{InfinityModifier: pgtype.NegativeInfinity, Valid: true}, ""
	if q.Newest {
		query, at.InfinityModifier = s.q.pageBefore, pgtype.Infinity
	}
	if !from.IsZero() {
		at, id = pgtype.Timestamptz{Time: from.At, Valid: true}, string(from.ID)
	}
	rows, err := s.pool.Query(ctx, query, q.Subject, at, id, q.Limit+1, q.Now)
	if err != nil {
		return sessiond.Page{}, s.translate(op, err)
	}
	defer rows.Close()
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
			sc   sessionScan
			live bool
		)
		if err := rows.Scan(append(sc.dest(), &live)...); err != nil {
			return sessiond.Page{}, s.translate(op, err)
		}
		sess := sc.session()
		last = sessiond.PageCursor{At: sess.CreatedAt, ID: sess.ID}
		if live {
			page.Sessions = append(page.Sessions, sess)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return sessiond.Page{}, s.translate(op, err)
	}
	return page, nil
}

// ListSpan returns the subject's sessions live at now created at created
// and ending at expires: through sessions_subject, the rows of the subject
// created in that microsecond.
func (s *Store) ListSpan(ctx context.Context, subject string, created, expires, now time.Time) ([]*sessiond.Session, error) {
	const op = "list span"
	if err := s.begin(op); err != nil {
		return nil, err
	}
	out := []*sessiond.Session{}
	if !validText(subject) {
		return out, nil
	}
	rows, err := s.pool.Query(ctx, s.q.span, subject, created, expires, now)
	if err != nil {
		return nil, s.translate(op, err)
	}
	defer rows.Close()
	for rows.Next() {
		sess, err := scanSession(rows)
		if err != nil {
			return nil, s.translate(op, err)
		}
		out = append(out, sess)
	}
	if err := rows.Err(); err != nil {
		return nil, s.translate(op, err)
	}
	return out, nil
}
