package pgstore

import (
	"strconv"
	"strings"
)

// queries are the store's statements with the schema filled in. Every
// table name is qualified, so they do not depend on search_path (which a
// connection pooler may not keep).
type queries struct {
	create, get, lookup, lookupMany, touch, touchExists, swapLock, swap string
	revoke, revokeSubject, evict, notify, limitLock, liveBySubject      string
	list, subjectClients, revocations, deleteExpired, markBulk          string
	bulkSince, revocationsLogged                                        string
	getMeta, insertMeta, updateMeta                                     string
	incr, sweepCounters                                                 string

	// eventlog.go, outbox.go, bulk.go, live.go. The
	// statements whose WHERE depends on the call are built by
	// queryEventsSQL and revokeMatchingSQL.
	appendEvents, deleteEvents                                                    string
	enqueue, claim, finish, retryDead, listDeliveries, countDeliveries, deleteDel string
	finishClaimed                                                                 string
	countLive                                                                     string
	// groupLock: swapLock for the sessions of a whole group commit
	// (groupcommit.go), whose locks fail at once (55P03) instead of
	// waiting.
	groupLock string
	// swapRec, createRec: swap and create with the change's events
	// and webhook deliveries inserted by the same statement (one
	// statement per change: each costs PostgreSQL a round of executor
	// start-up and shutdown), indexed by withRecords.
	swapRec   [4]string
	createRec [4]string
	// touchRec: Touch with the change's records, one statement
	// (TouchRecorded), also indexed by withRecords.
	touchRec [4]string
	// createSet: the creates of a group commit as one statement with
	// their records (createset.go), indexed by withRecords.
	createSet [4]string
	// swapSet: the swaps of a group commit as one statement with their
	// records (swapset.go), indexed by withRecords.
	swapSet [4]string
	schema  string

	// pageAfter, pageBefore, span: SubjectPager's (subjectpage.go).
	pageAfter, pageBefore, span string
	// revPageLogged, revPageMerged, bulkInstants: RevocationPager's
	// (revocationpage.go).
	revPageLogged, revPageMerged, bulkInstants string
}

// withRecords indexes swapRec and createRec: whether the change carries
// events, and deliveries.
func withRecords(events, deliveries bool) int {
	i := 0
	if events {
		i |= 1
	}
	if deliveries {
		i |= 2
	}
	return i
}

// sessionCols are the columns scanSession reads, in its order.
const sessionCols = `s.id, s.subject, s.strategy, s.created_at, s.last_active_at, s.idle_expires_at,
	s.expires_at, s.persistent, s.client_ip, s.client_ua, s.claims, s.revoked_at, s.revoke_reason`

// activitySet is Touch's activity, $2 last active and $3 idle expiry,
// each kept at the later of the stored and the given time (the swaps
// write theirs the same way).
const activitySet = `last_active_at = greatest(last_active_at, $2), idle_expires_at = greatest(idle_expires_at, $3)`

// eventCols are the columns scanEvents reads, in its order.
const eventCols = `id, time, type, subject, session_id, client_ip, client_ua, details`

// deliveryCols are the columns scanDeliveries reads, in its order.
const deliveryCols = `id, endpoint, event_id, payload, state, attempts, next_attempt_at, last_error, created_at, updated_at`

// revocationCols are the columns scanRevocation reads, in its order.
const revocationCols = `id, subject, revoked_at, expires_at, revoke_reason, created_at`

// logCols are the columns of a revocation_log row, and logFrom what each
// writer inserts there from its session's RETURNING: the revocation with
// what a page of the snapshot reads of it (migration 0011), so that a
// page reads no session.
const (
	logCols = `session_id, revoked_at, subject, expires_at, revoke_reason, created_at`
	logFrom = `id, revoked_at, subject, expires_at, revoke_reason, created_at`
)

// logConflict: a session revoked again (only after its revocation was
// undone by hand) keeps one log row, at its latest revocation.
const logConflict = `ON CONFLICT (session_id) DO UPDATE SET revoked_at = EXCLUDED.revoked_at, subject = EXCLUDED.subject,
	expires_at = EXCLUDED.expires_at, revoke_reason = EXCLUDED.revoke_reason, created_at = EXCLUDED.created_at`

// Advisory-lock classes: the first key of the two-int4 form of
// pg_advisory_xact_lock, the second being hashtext of a schema or subject.
// Two-int4 locks never collide with the one-int8 form applications use.
// lockClassMigrateOutside is a class of its own, taken at session level
// (migrateOutside): a node waiting for lockClassMigrate must not wait for
// a concurrent build that waits for that node's snapshot.
const (
	lockClassMigrate        = 0x73657373 // "sess"
	lockClassLimit          = 0x73657374 // "sest"
	lockClassMigrateOutside = 0x73657375 // "sesu"
)

func newQueries(schema string) queries {
	r := strings.NewReplacer("{logconflict}", logConflict, "{logcols}", logCols, "{logfrom}", logFrom, "{schema}", schema, "{cols}", sessionCols, "{revcols}", revocationCols,
		"{evcols}", eventCols, "{delcols}", deliveryCols)
	q := queries{
		schema: schema,

		// One statement: the session, then its tokens from parallel arrays.
		// The foreign key is checked at the end of the statement, when the
		// session row exists. gc_at is the earlier expiry (migration 0008).
		create: `WITH s AS (
			INSERT INTO {schema}.sessions (id, subject, strategy, created_at, last_active_at, idle_expires_at,
				expires_at, persistent, client_ip, client_ua, claims, revoked_at, revoke_reason, gc_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, least($6::timestamptz, $7::timestamptz))
			RETURNING {logfrom}
		), logged AS (
			-- A session stored revoked (an import, a login racing a
			-- revocation) is logged as a revocation, which Revocations
			-- reads: else the revocation stream never carried it.
			INSERT INTO {schema}.revocation_log ({logcols})
			SELECT {logfrom} FROM s WHERE revoked_at IS NOT NULL
			{logconflict}
		){records}
		INSERT INTO {schema}.tokens (hash, session_id, kind, issued_at, expires_at, retired_at)
		SELECT t.hash, (SELECT id FROM s), t.kind, t.issued_at, t.expires_at, t.retired_at
		FROM unnest($14::bytea[], $15::int2[], $16::timestamptz[], $17::timestamptz[], $18::timestamptz[])
			AS t (hash, kind, issued_at, expires_at, retired_at)`,

		get: `SELECT {cols} FROM {schema}.sessions s WHERE s.id = $1`,

		// The database strategy's verify: one round trip, two primary-key
		// probes.
		lookup: `SELECT t.kind, t.issued_at, t.expires_at, t.retired_at, {cols}
		FROM {schema}.tokens t JOIN {schema}.sessions s ON s.id = t.session_id
		WHERE t.hash = $1`,

		// Several Lookups in one statement (groupread.go), each row with
		// its hash first.
		lookupMany: `SELECT t.hash, t.kind, t.issued_at, t.expires_at, t.retired_at, {cols}
		FROM {schema}.tokens t JOIN {schema}.sessions s ON s.id = t.session_id
		WHERE t.hash = ANY ($1::bytea[])`,

		// Activity never moves back (greatest), so a node whose clock is
		// behind cannot shorten a session a node ahead extended; nor,
		// then, can an idle expiry get shorter than gc_at, which is left
		// alone and keeps the update heap-only (migration 0008).
		touch: `UPDATE {schema}.sessions SET ` + activitySet + `
		WHERE id = $1 AND revoked_at IS NULL`,

		touchExists: `SELECT EXISTS (SELECT 1 FROM {schema}.sessions WHERE id = $1)`,

		// The refresh compare-and-swap, one statement (docs/pgstore.md),
		// after swapLock in the same transaction.
		//   $1 old hash, $2 next hash, $3 session ID, $4 next issued,
		//   $5 next expires, $6 now, $7 grace since, $8 last active,
		//   $9 idle expires.
		// swapLock serialises the swaps of one session. It runs first in
		// the swap's implicit transaction, so the swap statement's
		// snapshot, taken after the lock, sees the version of every token
		// of the session that an earlier swap committed: the old token's
		// (cur reads it without a lock of its own) and every sibling it
		// must retire. Every swap that can change a token of session $3
		// names $3 and holds that lock; a swap naming another session
		// changes nothing (ok is empty). Revoke updates the session row,
		// so it waits for that lock too: cur's revoked_at is the truth at
		// the swap, and a revoked session changes nothing (ok is empty).
		swapLock:  `SELECT 1 FROM {schema}.sessions WHERE id = $1 FOR UPDATE`,
		groupLock: `SELECT 1 FROM {schema}.sessions WHERE id = ANY ($1::text[]) FOR UPDATE NOWAIT`,

		swap: `WITH cur AS (
			SELECT t.kind, t.session_id, t.retired_at, s.revoked_at
			FROM {schema}.tokens t JOIN {schema}.sessions s ON s.id = t.session_id
			WHERE t.hash = $1
		), ok AS (
			SELECT session_id FROM cur
			WHERE kind = 2 AND session_id = $3 AND revoked_at IS NULL
				AND (retired_at IS NULL OR ($7::timestamptz < $6::timestamptz AND retired_at >= $7::timestamptz))
		), retire AS (
			-- Old (unless retired within the grace window) and any
			-- sibling issued by an earlier swap within the grace window:
			-- Next becomes the session's only current refresh token, so
			-- one token never forks into several live chains.
			UPDATE {schema}.tokens SET retired_at = $6
			WHERE session_id = $3 AND kind = 2 AND retired_at IS NULL
				AND EXISTS (SELECT 1 FROM ok)
		), next AS (
			INSERT INTO {schema}.tokens (hash, session_id, kind, issued_at, expires_at)
			SELECT $2, session_id, 2, $4, $5 FROM ok
		), activity AS (
			UPDATE {schema}.sessions SET last_active_at = greatest(last_active_at, $8), idle_expires_at = greatest(idle_expires_at, $9)
			WHERE id = $3 AND EXISTS (SELECT 1 FROM ok)
		){records}
		SELECT cur.kind, cur.session_id, cur.revoked_at IS NOT NULL, EXISTS (SELECT 1 FROM ok) FROM cur`,

		// revoke, revokeSubject, evict: each logs what it revokes in
		// revocation_log, which Revocations reads (migration 0007).
		revoke: `WITH s AS (
			UPDATE {schema}.sessions s SET revoked_at = $2, revoke_reason = $3
			WHERE s.id = $1 AND s.revoked_at IS NULL
			RETURNING {cols}
		), logged AS (
			INSERT INTO {schema}.revocation_log ({logcols}) SELECT {logfrom} FROM s
			{logconflict}
		)
		SELECT {cols} FROM s`,

		revokeSubject: `WITH r AS (
			UPDATE {schema}.sessions SET revoked_at = $3, revoke_reason = $4
			WHERE subject = $1 AND revoked_at IS NULL AND expires_at > $3 AND idle_expires_at > $3
				AND ($2 = '' OR id <> $2)
			RETURNING {revcols}
		), logged AS (
			INSERT INTO {schema}.revocation_log ({logcols}) SELECT {logfrom} FROM r
			{logconflict}
		)
		SELECT {revcols} FROM r`,

		evict: `WITH r AS (
			UPDATE {schema}.sessions SET revoked_at = $2, revoke_reason = $3
			WHERE id = ANY ($1) AND revoked_at IS NULL
			RETURNING {revcols}
		), logged AS (
			INSERT INTO {schema}.revocation_log ({logcols}) SELECT {logfrom} FROM r
			{logconflict}
		)
		SELECT {revcols} FROM r`,

		// Payloads are built in Go (notice.go); one round trip sends all.
		notify: `SELECT pg_notify($1, p) FROM unnest($2::text[]) AS p`,

		limitLock: `SELECT pg_advisory_xact_lock(` + strconv.Itoa(lockClassLimit) + `, hashtext($1))`,

		// The $3 least recently active (the order CreateLimited evicts
		// in) of the first $4 live sessions of a subject by creation
		// (sessiond.LimitRead), each with how many of those there are: a
		// login of a subject far over a lowered limit reads $4 of its
		// sessions, not all, and sends back no more than it evicts.
		liveBySubject: `SELECT id, count(*) OVER () FROM (
			SELECT id, last_active_at, created_at FROM {schema}.sessions
			WHERE subject = $1 AND revoked_at IS NULL AND expires_at > $2 AND idle_expires_at > $2
			ORDER BY created_at LIMIT $4
		) s
		ORDER BY last_active_at, created_at, id LIMIT $3`,

		list: `SELECT {cols} FROM {schema}.sessions s
		WHERE s.subject = $1 AND s.revoked_at IS NULL AND s.expires_at > $2 AND s.idle_expires_at > $2
		ORDER BY s.created_at, s.id`,

		// What list selects, without the rest of each session (subjectclients.go).
		subjectClients: `SELECT id, client_ip, client_ua FROM {schema}.sessions
		WHERE subject = $1 AND revoked_at IS NULL AND expires_at > $2 AND idle_expires_at > $2`,

		// No index names revoked_at, so that revoking is a heap-only
		// update (migration 0007, docs/pgstore.md). Revocations reads the
		// sessions revocation_log names (its index on revoked_at, then
		// the primary key) unless a bulk revocation happened since $1
		// (bulkSince); then the whole table.
		bulkSince: `SELECT EXISTS (SELECT 1 FROM {schema}.bulk_revocations WHERE at >= $1)`,
		revocationsLogged: `SELECT {revcols} FROM {schema}.sessions
		WHERE id IN (SELECT session_id FROM {schema}.revocation_log WHERE revoked_at >= $1)
			AND revoked_at >= $1 AND expires_at > $1
		ORDER BY revoked_at, id`,
		revocations: `SELECT {revcols} FROM {schema}.sessions
		WHERE revoked_at >= $1 AND expires_at > $1
		ORDER BY revoked_at, id`,

		// Committed before RevokeMatching revokes anything, so whoever
		// sees one of its revocations sees this row.
		markBulk: `INSERT INTO {schema}.bulk_revocations (at) VALUES ($1) ON CONFLICT (at) DO NOTHING`,

		// One round of the collector (migration 0008, docs/pgstore.md):
		// lock up to $2 sessions whose gc_at is before $1, delete those
		// that are over and move the others' gc_at to their earlier
		// expiry. SKIP LOCKED steps over rows another statement holds, so
		// the collector never waits on (or blocks) a request.
		//
		// Both the DELETE and the UPDATE test the expiry again: gc_at
		// does not change on refresh, so due says nothing about whether
		// the session is over. A refresh that committed after this
		// statement's snapshot but before its lock is seen there too:
		// each finds its row changed since the snapshot and re-checks its
		// WHERE on the newest version (READ COMMITTED), so a session
		// refreshed meanwhile is neither deleted nor moved (the next
		// round moves it). The IDs reach both as one array, probed
		// through the primary key, not joined (see revokeMatchingSQL).
		// Returns how many rows due locked and how many were deleted.
		deleteExpired: `WITH due AS MATERIALIZED (
			SELECT id FROM {schema}.sessions
			WHERE gc_at < $1
			ORDER BY gc_at
			LIMIT $2
			FOR UPDATE SKIP LOCKED
		), gone AS (
			DELETE FROM {schema}.sessions
			WHERE id = ANY (ARRAY (SELECT id FROM due)) AND least(expires_at, idle_expires_at) < $1
			RETURNING 1
		), moved AS (
			UPDATE {schema}.sessions SET gc_at = least(expires_at, idle_expires_at)
			WHERE id = ANY (ARRAY (SELECT id FROM due)) AND least(expires_at, idle_expires_at) >= $1
		)
		SELECT (SELECT count(*) FROM due), (SELECT count(*) FROM gone)`,

		getMeta: `SELECT value, version FROM {schema}.meta WHERE name = $1`,

		// $2 is now, $3 the end of a window starting now.
		incr: `INSERT INTO {schema}.counters AS c (key, count, reset_at) VALUES ($1, 1, $3)
		ON CONFLICT (key) DO UPDATE SET
			count    = CASE WHEN c.reset_at <= $2 THEN 1 ELSE c.count + 1 END,
			reset_at = CASE WHEN c.reset_at <= $2 THEN EXCLUDED.reset_at ELSE c.reset_at END
		RETURNING count, reset_at`,
		// reset_at is tested again outside the subquery: a row it chose
		// that a concurrent Incr started again while the DELETE waited for
		// it is then rechecked, new window and all, and kept.
		sweepCounters: `DELETE FROM {schema}.counters WHERE key IN (
			SELECT key FROM {schema}.counters WHERE reset_at <= $1 LIMIT $2) AND reset_at <= $1`,

		// $3 is 0 here; it is passed so both statements take the same
		// arguments.
		insertMeta: `INSERT INTO {schema}.meta (name, value, version) VALUES ($1, $2, $3::bigint + 1)
		ON CONFLICT (name) DO NOTHING
		RETURNING version`,

		updateMeta: `UPDATE {schema}.meta SET value = $2, version = version + 1, updated_at = now()
		WHERE name = $1 AND version = $3
		RETURNING version`,

		// A whole batch from parallel arrays: one statement, one round
		// trip. The caller drops repeated IDs first, so the first wins.
		// A whole batch from parallel arrays: one statement, one round
		// trip. The caller drops repeated IDs first, so the first wins.
		appendEvents: eventInsertSQL(1, ""),

		// Retention, oldest first, a bounded batch (like deleteExpired).
		deleteEvents: `DELETE FROM {schema}.events WHERE id IN (
			SELECT id FROM {schema}.events WHERE time < $1
			ORDER BY time
			LIMIT $2
			FOR UPDATE SKIP LOCKED
		)`,

		enqueue: deliveryInsertSQL(1, ""),

		// One statement: lock the due rows no one else holds (SKIP LOCKED:
		// concurrent claimers, on any node, take disjoint sets and never
		// wait for each other), push them past the lease, return them in
		// the order they were due. A row another claimer committed since
		// our snapshot is re-checked on its new version (READ COMMITTED),
		// which is no longer due.
		//   $1 now, $2 limit, $3 now + lease.
		claim: `WITH due AS MATERIALIZED (
			SELECT id, next_attempt_at FROM {schema}.deliveries
			WHERE state = 'pending' AND next_attempt_at <= $1
			ORDER BY next_attempt_at, id
			LIMIT $2
			FOR UPDATE SKIP LOCKED
		), claimed AS (
			UPDATE {schema}.deliveries d SET next_attempt_at = $3
			FROM due WHERE d.id = due.id
			RETURNING due.next_attempt_at AS due_at, d.id, d.endpoint, d.event_id, d.payload, d.state,
				d.attempts, d.next_attempt_at, d.last_error, d.created_at, d.updated_at
		)
		SELECT {delcols} FROM claimed ORDER BY due_at, id`,

		finish: `UPDATE {schema}.deliveries
		SET state = $2, attempts = $3, next_attempt_at = $4, last_error = $5, updated_at = $6
		WHERE id = $1`,

		// The fence is the UPDATE's condition: still pending with the
		// lease end and attempts of the claim ($7, $8). The count tells a
		// lost claim (0, true) from an unknown ID (0, false).
		finishClaimed: `WITH upd AS (
			UPDATE {schema}.deliveries
			SET state = $2, attempts = $3, next_attempt_at = $4, last_error = $5, updated_at = $6
			WHERE id = $1 AND state = 'pending' AND next_attempt_at = $7 AND attempts = $8
			RETURNING 1
		)
		SELECT (SELECT count(*) FROM upd), EXISTS (SELECT 1 FROM {schema}.deliveries WHERE id = $1)`,

		retryDead: `UPDATE {schema}.deliveries
		SET state = 'pending', attempts = 0, next_attempt_at = $2, created_at = $2, updated_at = $2
		WHERE id = $1 AND state = 'dead'`,

		listDeliveries: `SELECT {delcols} FROM {schema}.deliveries
		WHERE state = $1 ORDER BY created_at DESC, id DESC LIMIT $2`,

		countDeliveries: `SELECT count(*) FROM {schema}.deliveries WHERE state = $1`,

		deleteDel: `DELETE FROM {schema}.deliveries WHERE id IN (
			SELECT id FROM {schema}.deliveries
			WHERE state IN ('delivered', 'dead') AND updated_at < $1
			LIMIT $2
			FOR UPDATE SKIP LOCKED
		)`,

		countLive: `SELECT strategy, count(*) FROM {schema}.sessions
		WHERE revoked_at IS NULL AND expires_at > $1 AND idle_expires_at > $1
		GROUP BY strategy`,
	}
	// A refresh that keeps its token: the activity, unless the session
	// is revoked, and its records only if the activity was written.
	// Reports whether it was, and whether the session exists (revoked
	// when it does and was not touched).
	//   $1 session ID, $2 last active, $3 idle expires.
	touchRec := `WITH t AS (
			UPDATE {schema}.sessions SET ` + activitySet + `
			WHERE id = $1 AND revoked_at IS NULL
			RETURNING 1
		){records}
		SELECT EXISTS (SELECT 1 FROM t), EXISTS (SELECT 1 FROM {schema}.sessions WHERE id = $1)`
	for rec := range 4 {
		q.swapRec[rec] = withRecordsSQL(q.swap, 10, "EXISTS (SELECT 1 FROM ok)", rec)
		q.createRec[rec] = withRecordsSQL(q.create, 19, "", rec)
		q.touchRec[rec] = withRecordsSQL(touchRec, 4, "EXISTS (SELECT 1 FROM t)", rec)
		q.createSet[rec] = withRecordsSQL(createSetSQL, createSetRecords, "", rec)
		q.swapSet[rec] = swapSetSQL(rec)
	}
	q.swap, q.create = q.swapRec[0], q.createRec[0]
	for _, p := range []*string{
		&q.create, &q.get, &q.lookup, &q.lookupMany, &q.touch, &q.touchExists, &q.swapLock, &q.swap,
		&q.revoke, &q.revokeSubject, &q.evict, &q.notify, &q.limitLock, &q.liveBySubject,
		&q.list, &q.subjectClients, &q.revocations, &q.deleteExpired, &q.markBulk, &q.bulkSince, &q.revocationsLogged,
		&q.getMeta, &q.insertMeta, &q.updateMeta, &q.incr, &q.sweepCounters,
		&q.appendEvents, &q.deleteEvents,
		&q.enqueue, &q.claim, &q.finish, &q.retryDead, &q.listDeliveries, &q.countDeliveries, &q.deleteDel,
		&q.finishClaimed, &q.countLive, &q.groupLock,
	} {
		*p = r.Replace(*p)
	}
	for rec := range 4 {
		for _, p := range []*string{&q.swapRec[rec], &q.createRec[rec], &q.touchRec[rec], &q.createSet[rec], &q.swapSet[rec]} {
			*p = r.Replace(*p)
		}
	}
	pageQueries(&q)
	revocationPageQueries(&q)
	return q
}

// eventInsertSQL inserts events from the parallel arrays of eventArgs,
// numbered from $first, when cond holds (always if empty).
func eventInsertSQL(first int, cond string) string {
	return `INSERT INTO {schema}.events ({evcols})
		SELECT * FROM unnest(` + params(first, "text[]", "timestamptz[]", "text[]", "text[]", "text[]",
		"text[]", "text[]", "bytea[]") + `)` + where(cond) + `
		ON CONFLICT (id) DO NOTHING`
}

// deliveryInsertSQL inserts deliveries from the parallel arrays of
// deliveryArgs, numbered from $first, when cond holds (always if empty).
func deliveryInsertSQL(first int, cond string) string {
	return `INSERT INTO {schema}.deliveries ({delcols})
		SELECT id, endpoint, event_id, payload, 'pending', attempts, next_attempt_at, last_error, created_at, updated_at
		FROM unnest(` + params(first, "text[]", "text[]", "text[]", "bytea[]", "int8[]", "timestamptz[]",
		"text[]", "timestamptz[]", "timestamptz[]") + `)
			AS d (id, endpoint, event_id, payload, attempts, next_attempt_at, last_error, created_at, updated_at)` + where(cond) + `
		ON CONFLICT (id) DO NOTHING`
}

// withRecordsSQL returns query, a WITH statement holding the marker
// {records} after its last CTE, with the inserts of rec (withRecords)
// there as further CTEs: events from $first, then deliveries, each
// written only when cond holds.
func withRecordsSQL(query string, first int, cond string, rec int) string {
	var items string
	if rec&1 != 0 {
		items += `, ev AS (` + eventInsertSQL(first, cond) + `)`
		first += 8
	}
	if rec&2 != 0 {
		items += `, dl AS (` + deliveryInsertSQL(first, cond) + `)`
	}
	return strings.Replace(query, "{records}", items, 1)
}

// params returns "$first::type0, $first+1::type1, …".
func params(first int, types ...string) string {
	var b strings.Builder
	for i, t := range types {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString("$" + strconv.Itoa(first+i) + "::" + t)
	}
	return b.String()
}

func where(cond string) string {
	if cond == "" {
		return ""
	}
	return " WHERE " + cond
}

// eventFilter says which filters a QueryEvents call sets, in the order
// their arguments follow $1 (the limit); with since or until the ID range's
// bounds follow them (lower with since, upper with until).
type eventFilter struct {
	cursor, subject, sessionID, typ, since, until bool
	// noSubject takes no argument: subject = '' is written out, so that
	// the planner can match the partial index events_no_subject.
	noSubject bool
}

// queryEventsSQL returns the event query with only the filters f sets, so
// each combination gets its own prepared statement and plan (a generic plan
// of "$2 is empty OR subject = $2" could use no index). Rows come in id order,
// after the cursor: keyset pagination. $1 is the limit; the filters'
// arguments follow in eventFilter's field order.
//
// With since or until it is two SELECTs of up to $1 rows each, in id
// order: the range of IDs the bounds give (an event's ID begins with its
// time), and the events whose ID does not encode their time, from their
// partial index (migration 0010); the predicate is the index's, word for
// word. An irregular ID inside the range comes back from both, next to
// itself: QueryEvents drops the second.
func (q *queries) queryEventsSQL(f eventFilter) string {
	var conds strings.Builder
	n := 1
	for _, c := range []struct {
		set  bool
		cond string
	}{
		{f.cursor, " AND id > $"},
		{f.subject, " AND subject = $"},
		{f.sessionID, " AND session_id = $"},
		{f.typ, " AND type = $"},
		{f.since, " AND time >= $"},
		{f.until, " AND time < $"},
	} {
		if c.set {
			n++
			conds.WriteString(c.cond + strconv.Itoa(n))
		}
	}
	if f.noSubject {
		conds.WriteString(" AND subject = ''")
	}
	sel := "SELECT " + eventCols + " FROM " + q.schema + ".events WHERE "
	if !f.since && !f.until {
		return sel + "true" + conds.String() + " ORDER BY id LIMIT $1"
	}
	idRange := "true"
	if f.since {
		n++
		idRange += " AND id >= $" + strconv.Itoa(n)
	}
	if f.until {
		n++
		idRange += " AND id < $" + strconv.Itoa(n)
	}
	return "(" + sel + idRange + conds.String() + " ORDER BY id LIMIT $1) UNION ALL (" +
		sel + q.schema + ".event_id_irregular(id, time)" + conds.String() + " ORDER BY id LIMIT $1) ORDER BY id"
}

// revokeMatchingSQL returns one batch of RevokeMatching: lock up to batch
// live sessions the filter selects, revoke them, and return their subjects
// with how many each. $1 is the revocation time, $2 the reason, then the
// subjects (text[]) if subjects, then the cutoff if before.
//
// The inner SELECT runs once (an InitPlan) and its IDs reach the UPDATE as
// one array, so the UPDATE finds them with the primary key (a join on id
// was planned as a hash join over the whole table, per batch). FOR UPDATE
// waits for a row another transaction holds, then re-checks the filter on
// its newest version, so a session revoked meanwhile is dropped; LIMIT sits
// above that lock step, so a batch comes back short only when no selected
// live session is left. The rows are then ours until commit, and the
// UPDATE revokes each of them.
func (q *queries) revokeMatchingSQL(subjects, before bool, batch int) string {
	live := "revoked_at IS NULL AND expires_at > $1 AND idle_expires_at > $1"
	n := 2
	if subjects {
		n++
		live += " AND subject = ANY ($" + strconv.Itoa(n) + "::text[])"
	}
	if before {
		n++
		live += " AND created_at < $" + strconv.Itoa(n)
	}
	return `WITH revoked AS (
		UPDATE ` + q.schema + `.sessions SET revoked_at = $1, revoke_reason = $2
		WHERE id = ANY (ARRAY (
			SELECT id FROM ` + q.schema + `.sessions
			WHERE ` + live + `
			LIMIT ` + strconv.Itoa(batch) + `
			FOR UPDATE
		)) AND revoked_at IS NULL
		RETURNING subject
	)
	SELECT subject, count(*) FROM revoked GROUP BY subject`
}

// revokeRangeSQL returns one chunk of RevokeMatching's walk over the
// table: revoke the live sessions the filter selects among the row
// versions stored in a range of heap pages, and return their subjects
// with how many each. $1 is the revocation time, $2 the reason, then the
// cutoff if before, then the first page's and the end page's tuple IDs.
//
// The ctid bounds make it a TID range scan (PostgreSQL 14 and later): each
// chunk reads only its own pages, so the walk reads the table once instead
// of re-scanning the rows earlier batches revoked, and the UPDATE locks
// the rows it revokes itself, with no lock step and no primary-key probe
// per row. A row a concurrent writer has moved out of the range is
// skipped here and left to the sweep that follows (revokeMatchingSQL).
func (q *queries) revokeRangeSQL(before bool) string {
	live := "revoked_at IS NULL AND expires_at > $1 AND idle_expires_at > $1"
	n := 2
	if before {
		n++
		live += " AND created_at < $" + strconv.Itoa(n)
	}
	return `WITH revoked AS (
		UPDATE ` + q.schema + `.sessions SET revoked_at = $1, revoke_reason = $2
		WHERE ctid >= $` + strconv.Itoa(n+1) + `::tid AND ctid < $` + strconv.Itoa(n+2) + `::tid AND ` + live + `
		RETURNING subject
	)
	SELECT subject, count(*) FROM revoked GROUP BY subject`
}

// tableExtentSQL returns the sessions table's size in pages now, its
// planner estimates of pages and rows (from the last VACUUM or ANALYZE;
// -1 rows when never analyzed), and whether the server has TID range
// scans (PostgreSQL 14). $1 is the table's qualified name, as text.
const tableExtentSQL = `SELECT pg_relation_size(c.oid) / current_setting('block_size')::bigint,
	c.relpages::bigint, c.reltuples::float8, current_setting('server_version_num')::int >= 140000
FROM pg_class c WHERE c.oid = $1::regclass`
