package pgstore

import (
	"strconv"
	"strings"
)

// queries are the store's statements with the schema filled in. Every
// table name is qualified, so they do not depend on search_path (which a
// connection pooler may not keep).
type queries struct {
	create, get, lookup, touch, touchExists, swap                  string
	revoke, revokeSubject, evict, notify, limitLock, liveBySubject string
	list, revocations, deleteExpired                               string
	getMeta, insertMeta, updateMeta                                string
}

// sessionCols are the columns scanSession reads, in its order.
const sessionCols = `s.id, s.subject, s.strategy, s.created_at, s.last_active_at, s.idle_expires_at,
	s.expires_at, s.persistent, s.client_ip, s.client_ua, s.claims, s.revoked_at, s.revoke_reason`

// revocationCols are the columns scanRevocation reads, in its order.
const revocationCols = `id, subject, revoked_at, expires_at, revoke_reason, created_at`

// Advisory-lock classes: the first key of the two-int4 form of
// pg_advisory_xact_lock, the second being hashtext of a schema or subject.
// Two-int4 locks never collide with the one-int8 form applications use.
const (
	lockClassMigrate = 0x73657373 // "sess"
	lockClassLimit   = 0x73657374 // "sest"
)

func newQueries(schema string) queries {
	r := strings.NewReplacer("{schema}", schema, "{cols}", sessionCols, "{revcols}", revocationCols)
	q := queries{
		// One statement: the session, then its tokens from parallel arrays.
		// The foreign key is checked at the end of the statement, when the
		// session row exists.
		create: `WITH s AS (
			INSERT INTO {schema}.sessions (id, subject, strategy, created_at, last_active_at, idle_expires_at,
				expires_at, persistent, client_ip, client_ua, claims, revoked_at, revoke_reason)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
			RETURNING id
		)
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

		touch: `UPDATE {schema}.sessions SET last_active_at = $2, idle_expires_at = $3
		WHERE id = $1 AND revoked_at IS NULL`,

		touchExists: `SELECT EXISTS (SELECT 1 FROM {schema}.sessions WHERE id = $1)`,

		// The refresh compare-and-swap, one statement (docs/pgstore.md).
		// cur locks the old token's row; under READ COMMITTED a concurrent
		// swap that got there first makes it wait, then read the version
		// that swap committed. Every later step decides on that locked,
		// current row, so the swaps of one token are serialised.
		//   $1 old hash, $2 next hash, $3 session ID, $4 next issued,
		//   $5 next expires, $6 now, $7 grace since, $8 last active,
		//   $9 idle expires.
		swap: `WITH cur AS (
			SELECT kind, session_id, retired_at FROM {schema}.tokens WHERE hash = $1 FOR UPDATE
		), ok AS (
			SELECT session_id FROM cur
			WHERE kind = 2 AND session_id = $3
				AND (retired_at IS NULL OR ($7::timestamptz < $6::timestamptz AND retired_at >= $7::timestamptz))
		), retire AS (
			UPDATE {schema}.tokens SET retired_at = $6
			WHERE hash = $1 AND retired_at IS NULL AND EXISTS (SELECT 1 FROM ok)
		), next AS (
			INSERT INTO {schema}.tokens (hash, session_id, kind, issued_at, expires_at)
			SELECT $2, session_id, 2, $4, $5 FROM ok
		), activity AS (
			UPDATE {schema}.sessions SET last_active_at = $8, idle_expires_at = $9
			WHERE id = $3 AND revoked_at IS NULL AND EXISTS (SELECT 1 FROM ok)
		)
		SELECT cur.kind, cur.session_id, EXISTS (SELECT 1 FROM ok) FROM cur`,

		revoke: `UPDATE {schema}.sessions s SET revoked_at = $2, revoke_reason = $3
		WHERE s.id = $1 AND s.revoked_at IS NULL
		RETURNING {cols}`,

		revokeSubject: `UPDATE {schema}.sessions SET revoked_at = $3, revoke_reason = $4
		WHERE subject = $1 AND revoked_at IS NULL AND expires_at > $3 AND idle_expires_at > $3
			AND ($2 = '' OR id <> $2)
		RETURNING {revcols}`,

		evict: `UPDATE {schema}.sessions SET revoked_at = $2, revoke_reason = $3
		WHERE id = ANY ($1) AND revoked_at IS NULL
		RETURNING {revcols}`,

		// Payloads are built in Go (notice.go); one round trip sends all.
		notify: `SELECT pg_notify($1, p) FROM unnest($2::text[]) AS p`,

		limitLock: `SELECT pg_advisory_xact_lock(` + strconv.Itoa(lockClassLimit) + `, hashtext($1))`,

		// Live sessions of a subject, least recently active first: the
		// order CreateLimited evicts in.
		liveBySubject: `SELECT id FROM {schema}.sessions
		WHERE subject = $1 AND revoked_at IS NULL AND expires_at > $2 AND idle_expires_at > $2
		ORDER BY last_active_at, created_at, id`,

		list: `SELECT {cols} FROM {schema}.sessions s
		WHERE s.subject = $1 AND s.revoked_at IS NULL AND s.expires_at > $2 AND s.idle_expires_at > $2
		ORDER BY s.created_at, s.id`,

		revocations: `SELECT {revcols} FROM {schema}.sessions
		WHERE revoked_at >= $1 AND expires_at > $1
		ORDER BY revoked_at, id`,

		// A bounded batch; SKIP LOCKED steps over rows another statement
		// holds, so the collector never waits on (or blocks) a request.
		deleteExpired: `DELETE FROM {schema}.sessions WHERE id IN (
			SELECT id FROM {schema}.sessions
			WHERE least(expires_at, idle_expires_at) < $1
			LIMIT $2
			FOR UPDATE SKIP LOCKED
		)`,

		getMeta: `SELECT value, version FROM {schema}.meta WHERE name = $1`,

		// $3 is 0 here; it is passed so both statements take the same
		// arguments.
		insertMeta: `INSERT INTO {schema}.meta (name, value, version) VALUES ($1, $2, $3::bigint + 1)
		ON CONFLICT (name) DO NOTHING
		RETURNING version`,

		updateMeta: `UPDATE {schema}.meta SET value = $2, version = version + 1, updated_at = now()
		WHERE name = $1 AND version = $3
		RETURNING version`,
	}
	for _, p := range []*string{
		&q.create, &q.get, &q.lookup, &q.touch, &q.touchExists, &q.swap,
		&q.revoke, &q.revokeSubject, &q.evict, &q.notify, &q.limitLock, &q.liveBySubject,
		&q.list, &q.revocations, &q.deleteExpired,
		&q.getMeta, &q.insertMeta, &q.updateMeta,
	} {
		*p = r.Replace(*p)
	}
	return q
}
