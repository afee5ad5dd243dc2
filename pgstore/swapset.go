package pgstore

import (
	"github.com/jackc/pgx/v5"

	"github.com/sessiond/sessiond"
)

// Refreshes as one statement. As for logins (createset.go), most of what
// PostgreSQL spends on a grouped refresh is the statement around its few
// rows: in BenchmarkSwapStepsParallel the store's swap for eight sessions
// as one statement from arrays cost PostgreSQL 182–194 µs a refresh
// against 283–287 as eight statements (docs/PERFORMANCE.md).
//
// A refresh reads before it writes, so one statement is the same as the
// swaps one by one only when they cannot see each other: every statement
// of a group runs after the group's lock on all its sessions, and each
// swap reads and writes only rows of its own session (the old token, which
// must belong to it, its refresh tokens, the session row). So the swaps of
// a group go out as one statement when no two writes of the group name the
// same session; otherwise each has its own statement, in order, as before.
// Two refreshes of one token with different sessions named cannot both
// pass: the token belongs to at most one of them.

// swapSetSQL returns the swap statement for several swaps: their columns
// as parallel arrays $1–$9 (old hash, next hash, session ID, next issued,
// next expires, now, grace since, last active, idle expires: the swap
// statement's $1–$9), and the records of rec (withRecords) from $10, each
// array set led by the 1-based position of the swap each row belongs to,
// stored only if that swap stores its successor. One row per swap whose
// old token exists: its position, then the swap statement's columns.
func swapSetSQL(rec int) string {
	q := `WITH a AS (
		SELECT * FROM unnest($1::bytea[], $2::bytea[], $3::text[], $4::timestamptz[], $5::timestamptz[],
			$6::timestamptz[], $7::timestamptz[], $8::timestamptz[], $9::timestamptz[])
			WITH ORDINALITY AS a (old, next, sid, issued, expires, now, grace, last_active, idle_expires, i)
	), cur AS (
		SELECT a.i, t.kind, t.session_id, t.retired_at, s.revoked_at
		FROM a JOIN {schema}.tokens t ON t.hash = a.old JOIN {schema}.sessions s ON s.id = t.session_id
	), ok AS (
		SELECT a.* FROM a JOIN cur ON cur.i = a.i
		WHERE cur.kind = 2 AND cur.session_id = a.sid AND cur.revoked_at IS NULL
			AND (cur.retired_at IS NULL OR (a.grace < a.now AND cur.retired_at >= a.grace))
	), retire AS (
		-- As in the swap: the old token and any sibling still current.
		UPDATE {schema}.tokens t SET retired_at = ok.now FROM ok
		WHERE t.session_id = ok.sid AND t.kind = 2 AND t.retired_at IS NULL
	), next AS (
		INSERT INTO {schema}.tokens (hash, session_id, kind, issued_at, expires_at)
		SELECT next, sid, 2, issued, expires FROM ok
	), activity AS (
		UPDATE {schema}.sessions s
		SET last_active_at = greatest(s.last_active_at, ok.last_active), idle_expires_at = greatest(s.idle_expires_at, ok.idle_expires)
		FROM ok WHERE s.id = ok.sid
	)`
	first := 10
	if rec&1 != 0 {
		q += `, ev AS (
		INSERT INTO {schema}.events ({evcols})
		SELECT {evcols} FROM unnest(` + params(first, "int8[]", "text[]", "timestamptz[]", "text[]", "text[]", "text[]",
			"text[]", "text[]", "bytea[]") + `)
			AS e (owner, {evcols})
		WHERE e.owner IN (SELECT i FROM ok)
		ON CONFLICT (id) DO NOTHING
	)`
		first += 9
	}
	if rec&2 != 0 {
		q += `, dl AS (
		INSERT INTO {schema}.deliveries ({delcols})
		SELECT id, endpoint, event_id, payload, 'pending', attempts, next_attempt_at, last_error, created_at, updated_at
		FROM unnest(` + params(first, "int8[]", "text[]", "text[]", "text[]", "bytea[]", "int8[]", "timestamptz[]",
			"text[]", "timestamptz[]", "timestamptz[]") + `)
			AS d (owner, id, endpoint, event_id, payload, attempts, next_attempt_at, last_error, created_at, updated_at)
		WHERE d.owner IN (SELECT i FROM ok)
		ON CONFLICT (id) DO NOTHING
	)`
	}
	return q + `
	SELECT cur.i, cur.kind, cur.session_id, cur.revoked_at IS NOT NULL, EXISTS (SELECT 1 FROM ok WHERE ok.i = cur.i)
	FROM cur`
}

// swapRows is one swap's share of a swapSet statement: the arguments of
// its own swap statement (without records), its records' arrays
// (eventArgs, deliveryArgs; nil for none), and where its outcome goes.
type swapRows struct {
	args   []any
	ev, dl []any
	r      *swapResult
}

// swapArgs are the swap statement's $1–$9 for sw.
func swapArgs(sw sessiond.RefreshSwap) []any {
	return []any{sw.Old[:], sw.Next.Hash[:], string(sw.Next.SessionID), sw.Next.IssuedAt, sw.Next.ExpiresAt,
		sw.Now, sw.GraceSince, sw.LastActiveAt, sw.IdleExpiresAt}
}

// queueSwapSet queues the swaps of ss on b as one statement; its callback
// records each swap's row in its result.
func (s *Store) queueSwapSet(b *pgx.Batch, ss []*swapRows) {
	lists := make([][]any, len(ss))
	var evs, dls [][]any
	for i, w := range ss {
		lists[i] = w.args
		if w.ev != nil {
			evs = append(evs, owned(w.ev, int64(i+1)))
		}
		if w.dl != nil {
			dls = append(dls, owned(w.dl, int64(i+1)))
		}
	}
	args := make([]any, 0, 9)
	for col := range 9 {
		args = append(args, gatherScalars(lists, col))
	}
	ev, dl := concatColumns(evs), concatColumns(dls)
	args = append(append(args, ev...), dl...)
	s.swapSets.Add(1)
	b.Queue(s.q.swapSet[withRecords(ev != nil, dl != nil)], args...).Query(func(rows pgx.Rows) error {
		for rows.Next() {
			var i int64
			var r swapResult
			if err := rows.Scan(&i, &r.kind, &r.session, &r.revoked, &r.swapped); err != nil {
				return err
			}
			r.found = true
			*ss[i-1].r = r
		}
		return rows.Err()
	})
}

// setOfSwaps returns the swaps of g, a group, if they can go out as one
// statement: at least two, and no two writes of g with the same key (a
// session ID). Otherwise nil.
func setOfSwaps(g []*groupWrite) []*swapRows {
	var ss []*swapRows
	for i, w := range g {
		if i > 0 && w.key == g[i-1].key { // g is sorted by key
			return nil
		}
		if w.swap != nil {
			ss = append(ss, w.swap)
		}
	}
	if len(ss) < 2 {
		return nil
	}
	return ss
}
