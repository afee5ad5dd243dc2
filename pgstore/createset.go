package pgstore

// Logins as one statement. In a group commit each login was its own
// statement, and most of what PostgreSQL spent on it was the statement
// (bind, executor start-up and shutdown), not the rows: in
// BenchmarkFloorParallel, eight logins as one statement from arrays cost
// PostgreSQL 54–60 µs each against 82–120 as eight statements in one
// transaction, and the client 8–9 µs against 18–26. Logins need no read
// and no lock, and each writes only rows of its own new session, so the
// creates of a group go out as one statement (createSet) whose arrays hold
// all their rows. A duplicate key among them fails the whole group, which
// then runs again write by write (groupcommit.go), each with its own
// outcome, as before.

// createSetSQL inserts sessions from the parallel arrays $1–$13 (the
// columns of create's $1–$13), their tokens from $14–$19 (hash, session
// ID, kind, issued, expires, retired) and, after {records}, the changes'
// records from $20. The foreign key is checked at the end of the
// statement, when every session row exists.
const createSetSQL = `WITH s AS (
	INSERT INTO {schema}.sessions (id, subject, strategy, created_at, last_active_at, idle_expires_at,
		expires_at, persistent, client_ip, client_ua, claims, revoked_at, revoke_reason, gc_at)
	SELECT id, subject, strategy, created_at, last_active_at, idle_expires_at,
		expires_at, persistent, client_ip, client_ua, claims, revoked_at, revoke_reason, least(idle_expires_at, expires_at)
	FROM unnest($1::text[], $2::text[], $3::text[], $4::timestamptz[], $5::timestamptz[], $6::timestamptz[],
		$7::timestamptz[], $8::bool[], $9::text[], $10::text[], $11::bytea[], $12::timestamptz[], $13::text[])
		AS u (id, subject, strategy, created_at, last_active_at, idle_expires_at,
			expires_at, persistent, client_ip, client_ua, claims, revoked_at, revoke_reason)
	RETURNING {logfrom}
), logged AS (
	-- The sessions stored revoked, logged as create logs them.
	INSERT INTO {schema}.revocation_log ({logcols})
	SELECT {logfrom} FROM s WHERE revoked_at IS NOT NULL
	{logconflict}
){records}
INSERT INTO {schema}.tokens (hash, session_id, kind, issued_at, expires_at, retired_at)
SELECT * FROM unnest($14::bytea[], $15::text[], $16::int2[], $17::timestamptz[], $18::timestamptz[], $19::timestamptz[])`

// createSetRecords is the first parameter of createSetSQL's records.
const createSetRecords = 20

// createRows is one create's share of a createSet statement: the
// arguments of its own create statement (insertArgs: the session's ID
// first, its token hashes at 13) and its records' arrays (eventArgs,
// deliveryArgs; nil for none).
type createRows struct {
	args, ev, dl []any
}

// createSetArgs returns the createSet statement of cs and its arguments:
// each session's columns (create's scalars $1–$13) as one array per
// column, then each token column's arrays concatenated, with the session
// ID as the second.
func (q *queries) createSetArgs(cs []*createRows) (string, []any) {
	lists := make([][]any, len(cs))
	var evs, dls [][]any
	var sids []string
	for i, c := range cs {
		lists[i] = c.args
		for range c.args[13].([][]byte) {
			sids = append(sids, c.args[0].(string))
		}
		if c.ev != nil {
			evs = append(evs, c.ev)
		}
		if c.dl != nil {
			dls = append(dls, c.dl)
		}
	}
	rows := make([]any, 0, 19)
	for col := range 13 {
		rows = append(rows, gatherScalars(lists, col))
	}
	rows = append(rows, concatColumn(lists, 13), sids)
	for col := 14; col < 18; col++ {
		rows = append(rows, concatColumn(lists, col))
	}
	ev, dl := concatColumns(evs), concatColumns(dls)
	return q.createSet[withRecords(ev != nil, dl != nil)], append(append(rows, ev...), dl...)
}
