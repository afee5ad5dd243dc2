package sqlitestore

import (
	"context"

	"github.com/sessiond/sessiond"
)

var _ sessiond.RevocationPager = (*Store)(nil)

// revocationPageQuery is a page of Revocations' query: on from a position
// through sessions_revoked_at, which holds the revoked sessions in order
// of revoked_at (sessions of one instant sorted by ID as they are read),
// the reason left out filtered before the sort and the limit.
//
//	?1 the later of since and the cursor's time (µs), ?2 the cursor's
//	time, ?3 its ID, ?4 since, ?5 the reason left out ("": none),
//	?6 the limit
const revocationPageQuery = `SELECT id, subject, revoked_at, expires_at, revoke_reason FROM sessions
	WHERE revoked_at >= ?1 AND (revoked_at > ?2 OR id > ?3) AND expires_at > ?4 AND (?5 = '' OR revoke_reason <> ?5)
	ORDER BY revoked_at, id LIMIT ?6`

// PageRevocations returns a page of the walk through Revocations' entries
// (sessiond.RevocationPager): one read of up to q.Limit+1 rows, the one
// past the limit telling whether the walk goes on.
func (s *Store) PageRevocations(ctx context.Context, q sessiond.RevocationQuery) (sessiond.RevocationPage, error) {
	const op = "page revocations"
	if err := sessiond.CheckRevocationQuery(q); err != nil {
		return sessiond.RevocationPage{}, wrap(op, err)
	}
	from := max(micro(q.Since), micro(q.After.At))
	rows, err := s.db.QueryContext(ctx, revocationPageQuery, from, micro(q.After.At), string(q.After.ID), micro(q.Since),
		string(q.Except), q.Limit+1)
	if err != nil {
		return sessiond.RevocationPage{}, s.fail(op, err)
	}
	defer rows.Close()
	page := sessiond.RevocationPage{Revocations: []sessiond.Revocation{}, Next: q.After, Done: true}
	for rows.Next() {
		if len(page.Revocations) == q.Limit {
			page.Done = false
			break
		}
		var (
			id, subject, reason string
			revoked, expires    int64
		)
		if err := rows.Scan(&id, &subject, &revoked, &expires, &reason); err != nil {
			return sessiond.RevocationPage{}, s.fail(op, err)
		}
		r := sessiond.Revocation{SessionID: sessiond.SessionID(id), Subject: subject, RevokedAt: fromMicro(revoked),
			ExpiresAt: fromMicro(expires), Reason: sessiond.RevokeReason(reason)}
		page.Revocations = append(page.Revocations, r)
		page.Next = sessiond.CursorOf(r)
	}
	if err := rows.Err(); err != nil {
		return sessiond.RevocationPage{}, s.fail(op, err)
	}
	return page, nil
}
