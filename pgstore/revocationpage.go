package pgstore

import (
	"context"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/sessiond/sessiond"
)

var _ sessiond.RevocationPager = (*Store)(nil)

// revocationPageQueries fills RevocationPager's statements. A page is read
// where Revocations reads: revocation_log for the revocations one by one
// and by subject, through its index on revoked_at from the cursor on
// (sorting on session_id only the rows of one revoked_at), each row with
// its session's columns copied in (migration 0011), or, for a row an
// older version logged without them, read from its session as before;
// and, for each RevokeMatching at or after the cursor (bulk_revocations,
// whose sessions are not in the log), the sessions revoked in its
// instant, in order of id. No statement reads more than a page and one
// row of each source. Rows come in Revocations' order (revoked_at, then id as the database
// collates it: the order of CompareRevocations for sessiond's IDs, which
// sort alike in every collation), merged by PostgreSQL, never re-sorted in
// Go, so that a cursor means the same to both.
func revocationPageQueries(q *queries) {
	// $1 the later of since and the cursor's time, $2 and $3 the cursor,
	// $4 since, $5 the reason left out ('': none), $6 the limit.
	// The lateral's branches are gated on l.subject alone (One-Time
	// Filters), so a copied row reads no session; it is a subquery, not
	// a join condition, because a condition on l alone in a join would
	// be tested after the probe.
	logged := `SELECT l.session_id AS id, r.subject, r.revoked_at, r.expires_at, r.revoke_reason, r.created_at
		FROM {schema}.revocation_log l CROSS JOIN LATERAL (
			SELECT l.subject, l.revoked_at, l.expires_at, l.revoke_reason, l.created_at WHERE l.subject IS NOT NULL
			UNION ALL
			SELECT s.subject, s.revoked_at, s.expires_at, s.revoke_reason, s.created_at FROM {schema}.sessions s
			WHERE s.id = l.session_id AND l.subject IS NULL
		) r
		WHERE l.revoked_at >= $1 AND (l.revoked_at, l.session_id) > ($2, $3)
			AND r.revoked_at >= $4 AND r.expires_at > $4 AND ($5 = '' OR r.revoke_reason <> $5)
		ORDER BY l.revoked_at, l.session_id LIMIT $6`
	r := strings.NewReplacer("{schema}", q.schema, "{revcols}", revocationCols)
	q.revPageLogged = r.Replace(logged)
	// The same with the sessions of the bulk revocations at $7's instants
	// (each its own read, in order of id from the cursor), merged; a
	// session logged in such an instant comes from both, as one row.
	q.revPageMerged = r.Replace(strings.Replace(`SELECT {revcols} FROM (
		({logged})
		UNION
		(SELECT b.* FROM unnest($7::timestamptz[]) AS t (at) CROSS JOIN LATERAL (
			SELECT {revcols} FROM {schema}.sessions
			WHERE revoked_at = t.at AND id > (CASE WHEN t.at = $2 THEN $3 ELSE '' END) AND expires_at > $4
				AND ($5 = '' OR revoke_reason <> $5)
			ORDER BY id LIMIT $6) b)
	) u ORDER BY revoked_at, id LIMIT $6`, "{logged}", logged, 1))
	q.bulkInstants = r.Replace(`SELECT at FROM {schema}.bulk_revocations WHERE at >= $1 ORDER BY at`)
}

// revPageBegin begins a page's transaction (sent as one simple query):
// one snapshot, as Revocations reads, and no parallel workers. A page is a
// range of the log's index (and was a thousand primary-key probes before
// migration 0011); planned to go on to the end of the log it
// ran under a Gather Merge whose two workers started in 25–90 ms (the
// page itself in 9–20 ms), which made a snapshot of 1,000,000
// revocations several times slower.
const revPageBegin = `BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY; SET LOCAL max_parallel_workers_per_gather = 0`

// PageRevocations returns a page of the walk through Revocations' entries
// (sessiond.RevocationPager). The log's rows after the cursor and, for
// each bulk revocation in the page's span, its instant's sessions, up to a
// page and one row of each, are merged in the walk's order
// (revocationPageQueries); the row past the page tells whether the walk
// goes on. They are read in one snapshot,
// as Revocations reads, so a bulk revocation committing meanwhile is not
// half seen; no transaction outlives the page (revPageBegin).
func (s *Store) PageRevocations(ctx context.Context, q sessiond.RevocationQuery) (sessiond.RevocationPage, error) {
	const op = "page revocations"
	if err := s.begin(op, sessiond.CheckRevocationQuery(q)); err != nil {
		return sessiond.RevocationPage{}, err
	}
	if !validText(string(q.After.ID)) {
		// No page gave it: PostgreSQL's text cannot hold it.
		return sessiond.RevocationPage{}, wrap(op, &sessiond.ArgumentError{Field: "after.id", Msg: "must be UTF-8 without NUL"})
	}
	from := q.Since
	if q.After.At.After(from) {
		from = q.After.At
	}
	after := pgtype.Timestamptz{InfinityModifier: pgtype.NegativeInfinity, Valid: true}
	if !q.After.At.IsZero() {
		after = pgtype.Timestamptz{Time: q.After.At, Valid: true}
	}
	var found []revocationRow
	err := pgx.BeginTxFunc(ctx, s.pool, pgx.TxOptions{BeginQuery: revPageBegin}, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, s.q.bulkInstants, from)
		if err != nil {
			return err
		}
		instants, err := pgx.CollectRows(rows, pgx.RowTo[time.Time])
		if err != nil {
			return err
		}
		args := []any{from, after, string(q.After.ID), q.Since, string(q.Except), q.Limit + 1}
		if rows, err = tx.Query(ctx, s.q.revPageLogged, args...); err != nil {
			return err
		}
		if found, err = scanRevocations(rows); err != nil {
			return err
		}
		// The bulk revocations in the page's span: all of them unless the
		// log alone goes past the page.
		var in []time.Time
		for _, at := range instants {
			if len(found) > q.Limit && at.After(found[q.Limit].r.RevokedAt) {
				break
			}
			in = append(in, at)
		}
		if len(in) == 0 {
			return nil
		}
		if rows, err = tx.Query(ctx, s.q.revPageMerged, append(args, in)...); err != nil {
			return err
		}
		found, err = scanRevocations(rows)
		return err
	})
	if err != nil {
		return sessiond.RevocationPage{}, s.translate(op, err)
	}
	page := sessiond.RevocationPage{Revocations: revocations(found), Next: q.After, Done: len(found) <= q.Limit}
	if !page.Done {
		page.Revocations = page.Revocations[:q.Limit]
	}
	if n := len(page.Revocations); n > 0 {
		page.Next = sessiond.CursorOf(page.Revocations[n-1])
	}
	return page, nil
}
