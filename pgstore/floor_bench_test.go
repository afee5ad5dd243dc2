package pgstore_test

// The floor of a write on PostgreSQL, for issue 11's target 2 (a
// PostgreSQL store at 0.5 × the memory store over HTTP): what pgx and the
// server cost for the least a login or a refresh could write, with none of
// the store's checks:
//
//	SESSIOND_TEST_POSTGRES_URL='postgres://postgres@127.0.0.1:5432/test?sslmode=disable' go test -run '^$' -bench 'Floor|StoreWrites|SwapSteps' -count 3 ./pgstore/
//
// keys has primary keys only; indexed adds the store's secondary indexes.
// ping is one round trip doing nothing (SELECT 1). login is one statement
// inserting a session, its refresh token and its event; refresh one
// statement inserting the successor token, retiring the old one, writing
// the session's activity and inserting the event; login8 and refresh8 run
// eight such statements in one transaction, as group commit does for
// refreshes; login8set is eight logins as one statement from arrays, as it
// does for logins (createset.go). About
// 32 goroutines share a pool of 16 connections (the store's default
// here). postgres-µs/op is the CPU time of every postgres process (/proc),
// so run it on a server nothing else uses; client-µs/op is this process's.

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/pgstore"

	"github.com/sessiond/sessiond/internal/testenv"
)

// clockTicks is Linux's USER_HZ, the unit of /proc/PID/stat's times.
const clockTicks = 100

// postgresCPU is the CPU time (user + system) of every running postgres
// process.
func postgresCPU(b *testing.B) time.Duration {
	b.Helper()
	stats, err := filepath.Glob("/proc/[0-9]*/stat")
	if err != nil {
		b.Fatal(err)
	}
	var ticks int64
	for _, p := range stats {
		raw, err := os.ReadFile(p)
		if err != nil {
			continue // the process has ended
		}
		// pid (comm) state ppid ...: comm may hold spaces, so split after
		// its closing parenthesis; utime and stime are fields 14 and 15.
		open, end := strings.IndexByte(string(raw), '('), strings.LastIndexByte(string(raw), ')')
		if open < 0 || end < open || string(raw[open+1:end]) != "postgres" {
			continue
		}
		f := strings.Fields(string(raw[end+1:]))
		for _, v := range f[11:13] {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				b.Fatal(err)
			}
			ticks += n
		}
	}
	return time.Duration(ticks) * time.Second / clockTicks
}

// reportPostgresCPU measures PostgreSQL's CPU time from now until the
// benchmark ends and reports it per operation.
func reportPostgresCPU(b *testing.B) func() {
	start := postgresCPU(b)
	return func() {
		b.ReportMetric(float64(postgresCPU(b)-start)/float64(time.Microsecond)/float64(b.N), "postgres-µs/op")
	}
}

const floorSchema = `
CREATE TABLE sessions (id text PRIMARY KEY, subject text NOT NULL, created_at timestamptz NOT NULL,
	last_active_at timestamptz NOT NULL, idle_expires_at timestamptz NOT NULL, expires_at timestamptz NOT NULL,
	gc_at timestamptz NOT NULL, client jsonb, revoked_at timestamptz) WITH (fillfactor = 50);
CREATE TABLE tokens (hash bytea PRIMARY KEY, session_id text NOT NULL, kind smallint NOT NULL, expires_at timestamptz NOT NULL, retired_at timestamptz);
CREATE TABLE events (id text PRIMARY KEY, time timestamptz NOT NULL, type text NOT NULL, subject text NOT NULL,
	session_id text NOT NULL, body jsonb NOT NULL);`

// floorIndexes are the secondary indexes the store keeps on those tables
// (migrations 0001–0009) for listing a user's sessions, finding a
// session's tokens, collecting expired sessions and querying events. A
// refresh's session update stays heap-only: it changes no indexed column.
const floorIndexes = `
CREATE INDEX sessions_subject ON sessions (subject, created_at);
CREATE INDEX sessions_gc_at ON sessions (gc_at);
CREATE INDEX tokens_session ON tokens (session_id, kind, (retired_at IS NULL));
CREATE INDEX events_subject ON events (subject, id);
CREATE INDEX events_session_id ON events (session_id, id);
CREATE INDEX events_type ON events (type, id);
CREATE INDEX events_time ON events (time);`

const floorLogin = `WITH s AS (INSERT INTO sessions VALUES ($1, $2, $3, $3, $4, $4, $4, '{"ip":"203.0.113.7","user_agent":"sessiond-bench"}', NULL)),
	t AS (INSERT INTO tokens VALUES ($5, $1, 2, $4, NULL))
	INSERT INTO events VALUES ($6, $3, 'session.created', $2, $1, $7)`

// floorLoginSet is floorLogin for several sessions at once, from arrays:
// one statement, one executor start, for a whole group.
const floorLoginSet = `WITH s AS (INSERT INTO sessions SELECT id, $2, $3, $3, $4, $4, $4, '{"ip":"203.0.113.7","user_agent":"sessiond-bench"}', NULL FROM unnest($1::text[]) AS id),
	t AS (INSERT INTO tokens SELECT h, id, 2, $4, NULL FROM unnest($1::text[], $5::bytea[]) AS u (id, h))
	INSERT INTO events SELECT e, $3, 'session.created', $2, id, $7 FROM unnest($1::text[], $6::text[]) AS u (id, e)`

const floorRefresh = `WITH t AS (INSERT INTO tokens VALUES ($1, $2, 2, $3, NULL)),
	r AS (UPDATE tokens SET retired_at = $4 WHERE hash = $5),
	s AS (UPDATE sessions SET last_active_at = $4, idle_expires_at = $3 WHERE id = $2)
	INSERT INTO events VALUES ($6, $4, 'session.refreshed', 'bench', $2, $7)`

// floorEventBody is about the size of a stored session.refreshed event.
const floorEventBody = `{"type":"session.refreshed","subject":"bench-12","session_id":"s_0197a3c2e1f04b6a8c1d2e3f4a","client":{"ip":"203.0.113.7","user_agent":"sessiond-bench"},"details":{"api_key_id":"key_bench"}}`

func BenchmarkFloorParallel(b *testing.B) {
	b.Run("keys", func(b *testing.B) { benchFloor(b, false) })
	b.Run("indexed", func(b *testing.B) { benchFloor(b, true) })
}

// floorPool returns a pool of 16 connections on a fresh schema holding
// the floor's tables, with the store's secondary indexes when indexed.
func floorPool(b *testing.B, indexed bool) *pgxpool.Pool {
	b.Helper()
	ctx := context.Background()
	dsn := testDSN(b)
	schema := testSchema(b, dsn)
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		b.Fatal(err)
	}
	cfg.MaxConns = 16
	cfg.ConnConfig.RuntimeParams["search_path"] = schema
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(pool.Close)
	if _, err := pool.Exec(ctx, "CREATE SCHEMA "+pgx.Identifier{schema}.Sanitize()); err != nil {
		b.Fatal(err)
	}
	ddl := floorSchema
	if indexed {
		ddl += floorIndexes
	}
	if _, err := pool.Exec(ctx, ddl); err != nil {
		b.Fatal(err)
	}
	return pool
}

// benchFloor runs the floor's operations on a fresh schema, with the
// store's secondary indexes when indexed.
func benchFloor(b *testing.B, indexed bool) {
	ctx := context.Background()
	pool := floorPool(b, indexed)
	var seq atomic.Int64
	id := func(kind string) string { return kind + strconv.FormatInt(seq.Add(1), 10) }
	// chain is one goroutine's session and its current refresh token.
	type chain struct {
		sid string
		cur []byte
	}
	newChain := func() (*chain, error) {
		c := &chain{sid: id("s"), cur: []byte(id("t"))}
		now := time.Now()
		_, err := pool.Exec(ctx, floorLogin, c.sid, "bench", now, now.Add(time.Hour), c.cur, id("e"), floorEventBody)
		return c, err
	}
	refreshArgs := func(c *chain) []any {
		next, now := []byte(id("t")), time.Now()
		args := []any{next, c.sid, now.Add(time.Hour), now, c.cur, id("e"), floorEventBody}
		c.cur = next
		return args
	}
	ops := []struct {
		name string
		per  int // operations per round trip
		op   func(c *chain) error
	}{
		{"ping", 1, func(*chain) error { _, err := pool.Exec(ctx, "SELECT 1"); return err }},
		{"login", 1, func(*chain) error { _, err := newChain(); return err }},
		{"login8", 8, func(*chain) error {
			return pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
				var batch pgx.Batch
				for range 8 {
					now := time.Now()
					batch.Queue(floorLogin, id("s"), "bench", now, now.Add(time.Hour), []byte(id("t")), id("e"), floorEventBody)
				}
				return tx.SendBatch(ctx, &batch).Close()
			})
		}},
		{"login8set", 8, func(*chain) error {
			sids, tids, eids := make([]string, 8), make([][]byte, 8), make([]string, 8)
			for i := range 8 {
				sids[i], tids[i], eids[i] = id("s"), []byte(id("t")), id("e")
			}
			now := time.Now()
			_, err := pool.Exec(ctx, floorLoginSet, sids, "bench", now, now.Add(time.Hour), tids, eids, floorEventBody)
			return err
		}},
		{"refresh", 1, func(c *chain) error { _, err := pool.Exec(ctx, floorRefresh, refreshArgs(c)...); return err }},
		{"refresh8", 8, func(c *chain) error {
			return pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
				var batch pgx.Batch
				for range 8 {
					batch.Queue(floorRefresh, refreshArgs(c)...)
				}
				return tx.SendBatch(ctx, &batch).Close()
			})
		}},
	}
	for _, o := range ops {
		b.Run(o.name, func(b *testing.B) {
			b.SetParallelism(parallelism())
			defer testenv.ReportClientCPU(b)()
			defer reportPostgresCPU(b)()
			b.RunParallel(func(pb *testing.PB) {
				c, err := newChain()
				if err != nil {
					b.Error(err)
					return
				}
				for n := 1; pb.Next(); n++ {
					if n%o.per != 0 {
						continue // a grouped op stands for o.per iterations
					}
					if err := o.op(c); err != nil {
						b.Error(fmt.Errorf("%s: %w", o.name, err))
						return
					}
				}
			})
		})
	}
}

// BenchmarkStoreWritesParallel is the store itself in the floor's harness,
// as the server calls it for a hybrid login and a rotating refresh, each
// with its event: login is CreateRecorded; lookup is the Lookup a refresh
// starts with; refresh is that Lookup and then SwapRefresh. Each goroutine
// refreshes its own chain.
func BenchmarkStoreWritesParallel(b *testing.B) {
	st, _ := newStore(b, pgstore.Options{})
	ctx := context.Background()
	var subjects atomic.Int64
	login := func() (*sessiond.Session, sessiond.TokenHash, error) {
		now := time.Now().UTC().Truncate(time.Microsecond)
		s := newSession("bench-"+strconv.FormatInt(subjects.Add(1), 10), now)
		tok := newToken(sessiond.KindRefresh, s.ID, now)
		ev := sessiond.Event{ID: sessiond.NewEventID(now), Time: now, Type: sessiond.EventSessionCreated, Subject: s.Subject,
			SessionID: s.ID, Client: s.Client, Details: map[string]any{"strategy": "hybrid", "api_key_id": "key_bench"}}
		_, err := st.CreateRecorded(ctx, s, 0, false, sessiond.ChangeRecords{Events: []sessiond.Event{ev}}, nil, tok)
		return s, tok.Hash, err
	}
	for _, name := range []string{"login", "lookup", "refresh"} {
		b.Run(name, func(b *testing.B) {
			b.SetParallelism(parallelism())
			defer testenv.ReportClientCPU(b)()
			defer reportPostgresCPU(b)()
			b.RunParallel(func(pb *testing.PB) {
				s, cur, err := login()
				for err == nil && pb.Next() {
					switch name {
					case "login":
						_, _, err = login()
					case "lookup":
						_, _, err = st.Lookup(ctx, cur)
					case "refresh":
						if _, _, err = st.Lookup(ctx, cur); err != nil {
							break
						}
						now := time.Now().UTC().Truncate(time.Microsecond)
						next := newToken(sessiond.KindRefresh, s.ID, now)
						ev := sessiond.Event{ID: sessiond.NewEventID(now), Time: now, Type: sessiond.EventSessionRefreshed, Subject: s.Subject,
							SessionID: s.ID, Client: s.Client, Details: map[string]any{"api_key_id": "key_bench"}}
						err = st.SwapRefresh(ctx, sessiond.RefreshSwap{Old: cur, Next: next, Now: now, GraceSince: now.Add(-5 * time.Second),
							LastActiveAt: now, IdleExpiresAt: now.Add(30 * time.Minute), Events: []sessiond.Event{ev}})
						cur = next.Hash
					}
				}
				if err != nil {
					b.Errorf("%s: %v", name, err)
				}
			})
		})
	}
}

// The floor's refresh grown step by step towards the store's swap
// (queries.go), on the indexed tables, eight sessions a transaction as a
// group commit has them: BenchmarkSwapStepsParallel says what each step
// of the store's statement costs PostgreSQL. Arguments as floorRefresh's.
var swapSteps = []struct {
	name, lock, stmt string
	set              bool // stmt swaps all eight sessions, from arrays
}{
	{"writes", "", floorRefresh, false},
	// + the group's lock on its sessions (groupLock).
	{"lock", floorGroupLock, floorRefresh, false},
	// + the swap's read and checks; the writes only if they pass, the old
	// token retired through the session's index, as the store does.
	{"check", floorGroupLock, swapStepSQL(retireBySession, eventPlain), false},
	// check, but the old token retired by its primary key (diagnostic: the
	// store must also retire the old token's siblings).
	{"check-pk", floorGroupLock, swapStepSQL(retireByHash, eventPlain), false},
	// + the event as the store inserts it: from arrays, ON CONFLICT DO NOTHING.
	{"records", floorGroupLock, swapStepSQL(retireBySession, eventFromArrays), false},
	// writes, but one statement for the eight sessions, from arrays.
	{"writes-set", "", floorRefreshSet, true},
	// records, but one statement for the eight sessions, from arrays (the
	// event from a scalar body): what a set-based swap would cost.
	{"records-set", floorGroupLock, swapSetSQL, true},
}

// floorRefreshSet is floorRefresh for several sessions: $1 the successors,
// $2 the sessions, $5 the old tokens, $6 the event IDs, as arrays.
const floorRefreshSet = `WITH a AS (SELECT * FROM unnest($1::bytea[], $2::text[], $6::text[]) AS a (next, sid, eid)),
	t AS (INSERT INTO tokens SELECT next, sid, 2, $3, NULL FROM a),
	r AS (UPDATE tokens SET retired_at = $4 WHERE hash = ANY ($5::bytea[])),
	s AS (UPDATE sessions SET last_active_at = $4, idle_expires_at = $3 WHERE id = ANY ($2::text[]))
	INSERT INTO events SELECT eid, $4, 'session.refreshed', 'bench', sid, $7 FROM a`

// swapSetSQL is swapStepSQL(retireBySession, …) for several sessions, with
// floorRefreshSet's arguments: one row of outcome per session.
const swapSetSQL = `WITH a AS (
		SELECT * FROM unnest($1::bytea[], $2::text[], $5::bytea[], $6::text[]) WITH ORDINALITY AS a (next, sid, old, eid, i)
	), cur AS (
		SELECT a.i, a.next, a.sid, a.eid, t.kind, t.session_id, t.retired_at, s.revoked_at
		FROM a JOIN tokens t ON t.hash = a.old JOIN sessions s ON s.id = t.session_id
	), ok AS (
		SELECT i, next, sid, eid FROM cur WHERE kind = 2 AND session_id = sid AND revoked_at IS NULL AND retired_at IS NULL
	), retire AS (
		UPDATE tokens t SET retired_at = $4 FROM ok WHERE t.session_id = ok.sid AND t.kind = 2 AND t.retired_at IS NULL
	), next AS (
		INSERT INTO tokens SELECT next, sid, 2, $3, NULL FROM ok
	), activity AS (
		UPDATE sessions s SET last_active_at = $4, idle_expires_at = $3 FROM ok WHERE s.id = ok.sid
	), ev AS (
		INSERT INTO events SELECT eid, $4, 'session.refreshed', 'bench', sid, $7 FROM ok ON CONFLICT (id) DO NOTHING
	)
	SELECT a.i, cur.kind, cur.session_id, cur.revoked_at IS NOT NULL, ok.i IS NOT NULL
	FROM a LEFT JOIN cur ON cur.i = a.i LEFT JOIN ok ON ok.i = a.i`

const (
	floorGroupLock  = `SELECT 1 FROM sessions WHERE id = ANY ($1::text[]) FOR UPDATE NOWAIT`
	retireBySession = `UPDATE tokens SET retired_at = $4 WHERE session_id = $2 AND kind = 2 AND retired_at IS NULL AND EXISTS (SELECT 1 FROM ok)`
	retireByHash    = `UPDATE tokens SET retired_at = $4 WHERE hash = $5 AND EXISTS (SELECT 1 FROM ok)`
	eventPlain      = `INSERT INTO events SELECT $6, $4, 'session.refreshed', 'bench', $2, $7 WHERE EXISTS (SELECT 1 FROM ok)`
	eventFromArrays = `INSERT INTO events SELECT * FROM unnest(ARRAY[$6::text], ARRAY[$4::timestamptz], ARRAY['session.refreshed'],
		ARRAY['bench'], ARRAY[$2::text], ARRAY[$7::jsonb]) WHERE EXISTS (SELECT 1 FROM ok)
		ON CONFLICT (id) DO NOTHING`
)

// swapStepSQL is the store's swap statement on the floor's tables, with
// the old token retired by retire and the event inserted by event.
func swapStepSQL(retire, event string) string {
	return `WITH cur AS (
		SELECT t.kind, t.session_id, t.retired_at, s.revoked_at
		FROM tokens t JOIN sessions s ON s.id = t.session_id WHERE t.hash = $5
	), ok AS (
		SELECT session_id FROM cur WHERE kind = 2 AND session_id = $2 AND revoked_at IS NULL AND retired_at IS NULL
	), retire AS (` + retire + `
	), next AS (
		INSERT INTO tokens SELECT $1, session_id, 2, $3, NULL FROM ok
	), activity AS (
		UPDATE sessions SET last_active_at = $4, idle_expires_at = $3 WHERE id = $2 AND EXISTS (SELECT 1 FROM ok)
	), ev AS (` + event + `
	)
	SELECT cur.kind, cur.session_id, cur.revoked_at IS NOT NULL, EXISTS (SELECT 1 FROM ok) FROM cur`
}

// BenchmarkSwapStepsParallel runs swapSteps: each goroutine keeps eight
// sessions and refreshes each once a transaction.
func BenchmarkSwapStepsParallel(b *testing.B) {
	ctx := context.Background()
	pool := floorPool(b, true)
	var seq atomic.Int64
	id := func(kind string) string { return kind + strconv.FormatInt(seq.Add(1), 10) }
	for _, step := range swapSteps {
		b.Run(step.name, func(b *testing.B) {
			b.SetParallelism(parallelism())
			defer testenv.ReportClientCPU(b)()
			defer reportPostgresCPU(b)()
			b.RunParallel(func(pb *testing.PB) {
				sids, cur := make([]string, 8), make([][]byte, 8)
				for i := range sids {
					sids[i], cur[i] = id("s"), []byte(id("t"))
					now := time.Now()
					if _, err := pool.Exec(ctx, floorLogin, sids[i], "bench", now, now.Add(time.Hour), cur[i], id("e"), floorEventBody); err != nil {
						b.Error(err)
						return
					}
				}
				for n := 1; pb.Next(); n++ {
					if n%len(sids) != 0 {
						continue // a transaction stands for one iteration per session
					}
					err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
						var batch pgx.Batch
						if step.lock != "" {
							batch.Queue(step.lock, sids)
						}
						if step.set {
							next, eids, now := make([][]byte, len(sids)), make([]string, len(sids)), time.Now()
							for i := range sids {
								next[i], eids[i] = []byte(id("t")), id("e")
							}
							q := batch.Queue(step.stmt, next, sids, now.Add(time.Hour), now, cur, eids, floorEventBody)
							if step.lock != "" {
								// A swap that refused would write nothing: count
								// the sessions it swapped.
								q.Query(func(rows pgx.Rows) error {
									swapped := 0
									for rows.Next() {
										var (
											i, kind     int64
											sid         string
											revoked, ok bool
										)
										if err := rows.Scan(&i, &kind, &sid, &revoked, &ok); err != nil {
											return err
										}
										if ok {
											swapped++
										}
									}
									if swapped != len(sids) {
										return fmt.Errorf("swapped %d of %d sessions", swapped, len(sids))
									}
									return rows.Err()
								})
							}
							cur = next
							return tx.SendBatch(ctx, &batch).Close()
						}
						for i := range sids {
							next, now := []byte(id("t")), time.Now()
							batch.Queue(step.stmt, next, sids[i], now.Add(time.Hour), now, cur[i], id("e"), floorEventBody)
							cur[i] = next
						}
						return tx.SendBatch(ctx, &batch).Close()
					})
					if err != nil {
						b.Errorf("%s: %v", step.name, err)
						return
					}
				}
			})
		})
	}
}
