package pgstore_test

import (
	"context"
	"fmt"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/pgstore"

	"github.com/sessiond/sessiond/internal/testenv"
)

// benchSessions is how many sessions the read benchmarks look among.
const benchSessions = 10_000

// parallelClients is the number of goroutines of the parallel benchmark.
const parallelClients = 32

// parallelism makes RunParallel use about parallelClients goroutines.
func parallelism() int {
	return max(1, (parallelClients+runtime.GOMAXPROCS(0)-1)/runtime.GOMAXPROCS(0))
}

// benchStore returns a Store on a fresh schema holding benchSessions
// sessions, each with one access token, and the hash and session ID of the
// one in the middle.
func benchStore(b *testing.B, maxConns int32) (*pgstore.Store, string, sessiond.TokenHash, sessiond.SessionID) {
	b.Helper()
	st, schema := newStore(b, pgstore.Options{MaxConns: maxConns})
	ctx := context.Background()
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	hashes := make([]sessiond.TokenHash, benchSessions)
	ids := make([]sessiond.SessionID, benchSessions)
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		fail error
	)
	const workers = 8
	for w := range workers {
		wg.Go(func() {
			for i := w; i < benchSessions; i += workers {
				s, tok := testenv.BenchSession(i, now)
				err := st.Create(ctx, s, tok)
				if err != nil {
					mu.Lock()
					fail = err
					mu.Unlock()
					return
				}
				hashes[i], ids[i] = tok.Hash, s.ID
			}
		})
	}
	wg.Wait()
	if fail != nil {
		b.Fatal(fail)
	}
	if err := exec(ctx, testDSN(b), "ANALYZE "+pgx.Identifier{schema}.Sanitize()+".sessions, "+pgx.Identifier{schema}.Sanitize()+".tokens"); err != nil {
		b.Fatal(err)
	}
	return st, schema, hashes[benchSessions/2], ids[benchSessions/2]
}

// BenchmarkLookup measures Store.Lookup of an existing token among 10,000
// sessions: the store's share of a database-strategy verify. Compare it
// with BenchmarkRawSelect.
func BenchmarkLookup(b *testing.B) {
	st, _, h, _ := benchStore(b, 0)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := st.Lookup(ctx, h); err != nil {
			b.Fatal(err)
		}
	}
}

// rawSelect is the raw driver operation Lookup stands on: a pgx pool
// QueryRow of one session row by primary key, with Lookup's session
// columns and destination types.
type rawSelect struct {
	pool *pgxpool.Pool
	q    string
	id   string
}

func newRawSelect(b *testing.B, schema string, id sessiond.SessionID, maxConns int32) *rawSelect {
	b.Helper()
	cfg, err := pgxpool.ParseConfig(testDSN(b))
	if err != nil {
		b.Fatal(err)
	}
	if maxConns > 0 {
		cfg.MaxConns = maxConns
	}
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(pool.Close)
	return &rawSelect{pool: pool, id: string(id), q: `SELECT id, subject, strategy, created_at, last_active_at,
		idle_expires_at, expires_at, persistent, client_ip, client_ua, claims, revoked_at, revoke_reason
		FROM ` + pgx.Identifier{schema}.Sanitize() + `.sessions WHERE id = $1`}
}

func (r *rawSelect) do(ctx context.Context) error {
	var (
		s       = new(sessiond.Session)
		revoked pgtype.Timestamptz
	)
	return r.pool.QueryRow(ctx, r.q, r.id).Scan(
		(*string)(&s.ID), &s.Subject, (*string)(&s.Strategy),
		&s.CreatedAt, &s.LastActiveAt, &s.IdleExpiresAt, &s.ExpiresAt,
		&s.Persistent, &s.Client.IP, &s.Client.UserAgent, &s.Claims, &revoked, (*string)(&s.RevokeReason))
}

// BenchmarkRawSelect is the baseline for BenchmarkLookup: a raw pgx pool
// QueryRow of the same session row by primary key, same columns, same
// destination types, on the same server and data.
func BenchmarkRawSelect(b *testing.B) {
	_, schema, _, id := benchStore(b, 0)
	raw := newRawSelect(b, schema, id, 0)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if err := raw.do(ctx); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkLookupVsRawSelect alternates one Lookup and one raw select per
// iteration and reports their ratio, so drift in machine load (a shared CI
// box) hits both sides alike. ns/op is the sum of the two.
func BenchmarkLookupVsRawSelect(b *testing.B) {
	st, schema, h, id := benchStore(b, 0)
	raw := newRawSelect(b, schema, id, 0)
	ctx := context.Background()
	var lookup, base time.Duration
	n := 0
	for b.Loop() {
		t0 := time.Now()
		if _, _, err := st.Lookup(ctx, h); err != nil {
			b.Fatal(err)
		}
		t1 := time.Now()
		if err := raw.do(ctx); err != nil {
			b.Fatal(err)
		}
		lookup += t1.Sub(t0)
		base += time.Since(t1)
		n++
	}
	b.ReportMetric(float64(lookup.Nanoseconds())/float64(n), "lookup-ns/op")
	b.ReportMetric(float64(base.Nanoseconds())/float64(n), "raw-ns/op")
	b.ReportMetric(float64(lookup)/float64(base), "lookup/raw")
}

// BenchmarkLookupParallel is BenchmarkLookup from 32 goroutines sharing a
// pool of 32 connections: verify throughput under concurrent clients.
func BenchmarkLookupParallel(b *testing.B) {
	st, _, h, _ := benchStore(b, parallelClients)
	ctx := context.Background()
	b.SetParallelism(parallelism())
	b.ReportAllocs()
	b.ResetTimer()
	testenv.ParallelOps(b, func(int) error {
		_, _, err := st.Lookup(ctx, h)
		return err
	})
}

// BenchmarkRawSelectParallel is BenchmarkRawSelect from 32 goroutines on
// a pool of 32 connections: the baseline for BenchmarkLookupParallel.
func BenchmarkRawSelectParallel(b *testing.B) {
	_, schema, _, id := benchStore(b, 0)
	raw := newRawSelect(b, schema, id, parallelClients)
	ctx := context.Background()
	b.SetParallelism(parallelism())
	b.ReportAllocs()
	b.ResetTimer()
	testenv.ParallelOps(b, func(int) error { return raw.do(ctx) })
}

// BenchmarkCreate measures storing a session with an access and a refresh
// token (one statement).
func BenchmarkCreate(b *testing.B) {
	st, _ := newStore(b, pgstore.Options{})
	ctx := context.Background()
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	b.ReportAllocs()
	for b.Loop() {
		s := &sessiond.Session{
			ID: sessiond.NewSessionID(), Subject: "alice", Strategy: sessiond.StrategyHybrid,
			CreatedAt: now, LastActiveAt: now, IdleExpiresAt: now.Add(30 * time.Minute), ExpiresAt: now.Add(8 * time.Hour),
			Client: sessiond.Client{IP: "203.0.113.7", UserAgent: "Mozilla/5.0"},
			Claims: []byte(`{"role":"admin"}`),
		}
		access := sessiond.HashToken(sessiond.Secret("a" + s.ID))
		refresh := sessiond.HashToken(sessiond.Secret("r" + s.ID))
		if err := st.Create(ctx, s,
			sessiond.Token{Hash: access, Kind: sessiond.KindAccess, SessionID: s.ID, IssuedAt: now, ExpiresAt: now.Add(15 * time.Minute)},
			sessiond.Token{Hash: refresh, Kind: sessiond.KindRefresh, SessionID: s.ID, IssuedAt: now, ExpiresAt: s.ExpiresAt},
		); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSwapRefresh measures one refresh rotation: retire the current
// refresh token, store its successor, write the session's activity.
func BenchmarkSwapRefresh(b *testing.B) {
	st, _ := newStore(b, pgstore.Options{})
	ctx := context.Background()
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	s := &sessiond.Session{
		ID: sessiond.NewSessionID(), Subject: "alice", Strategy: sessiond.StrategyHybrid,
		CreatedAt: now, LastActiveAt: now, IdleExpiresAt: now.Add(30 * time.Minute), ExpiresAt: now.Add(8 * time.Hour),
	}
	cur := sessiond.HashToken("refresh-0")
	if err := st.Create(ctx, s, sessiond.Token{Hash: cur, Kind: sessiond.KindRefresh, SessionID: s.ID, IssuedAt: now, ExpiresAt: s.ExpiresAt}); err != nil {
		b.Fatal(err)
	}
	i := 0
	b.ReportAllocs()
	for b.Loop() {
		i++
		next := sessiond.HashToken(sessiond.Secret(fmt.Sprintf("refresh-%d", i)))
		t := now.Add(time.Duration(i) * time.Microsecond)
		err := st.SwapRefresh(ctx, sessiond.RefreshSwap{
			Old:  cur,
			Next: sessiond.Token{Hash: next, Kind: sessiond.KindRefresh, SessionID: s.ID, IssuedAt: t, ExpiresAt: s.ExpiresAt},
			Now:  t, GraceSince: t.Add(-5 * time.Second), LastActiveAt: t, IdleExpiresAt: t.Add(30 * time.Minute),
		})
		if err != nil {
			b.Fatal(err)
		}
		cur = next
	}
}

// bulkSessions is how many live sessions BenchmarkRevokeMatchingAll1M
// revokes.
const bulkSessions = 1_000_000

// sessionRows feeds CopyFrom n live sessions at now, of n/10 subjects.
type sessionRows struct {
	n, i int
	now  time.Time
	row  []any
}

func (r *sessionRows) Next() bool { r.i++; return r.i <= r.n }
func (r *sessionRows) Err() error { return nil }
func (r *sessionRows) Values() ([]any, error) {
	created := r.now.Add(-time.Duration(r.i%28_800) * time.Second) // over the last 8 hours
	strategy := sessiond.StrategyHybrid
	if r.i%4 == 0 {
		strategy = sessiond.StrategyDatabase
	}
	r.row = append(r.row[:0],
		string(sessiond.NewSessionID()), fmt.Sprintf("user%06d", r.i%(r.n/10)), string(strategy),
		created, r.now, r.now.Add(30*time.Minute), created.Add(24*time.Hour),
		false, "203.0.113.7", "Mozilla/5.0 (X11; Linux x86_64)", []byte(`{"role":"user"}`),
		pgtype.Timestamptz{}, "")
	return r.row, nil
}

// loadSessions bulk-loads n live sessions at now into schema with COPY,
// then vacuums and analyzes the table, as a long-running deployment's
// would be.
func loadSessions(b *testing.B, schema string, n int, now time.Time) {
	b.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, testDSN(b))
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close(ctx)
	copied, err := conn.CopyFrom(ctx, pgx.Identifier{schema, "sessions"},
		[]string{"id", "subject", "strategy", "created_at", "last_active_at", "idle_expires_at", "expires_at",
			"persistent", "client_ip", "client_ua", "claims", "revoked_at", "revoke_reason"},
		&sessionRows{n: n, now: now})
	if err != nil || copied != int64(n) {
		b.Fatalf("copy %d sessions = %d, %v", n, copied, err)
	}
	if _, err := conn.Exec(ctx, "VACUUM (ANALYZE) "+pgx.Identifier{schema, "sessions"}.Sanitize()); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkRevokeMatchingAll1M measures the incident kill switch on
// 1,000,000 live sessions of 100,000 subjects: RevokeMatching{All} in
// batches of 50,000. Loading is outside the timer, and each further
// iteration first un-revokes everything outside it; one iteration is the
// figure (-benchtime 1x).
func BenchmarkRevokeMatchingAll1M(b *testing.B) {
	st, schema := newStore(b, pgstore.Options{})
	ctx := context.Background()
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	loadSessions(b, schema, bulkSessions, now)
	sessions := pgx.Identifier{schema, "sessions"}.Sanitize()
	first := true
	for b.Loop() {
		if !first {
			b.StopTimer()
			if err := exec(ctx, testDSN(b), "UPDATE "+sessions+" SET revoked_at = NULL, revoke_reason = ''"); err != nil {
				b.Fatal(err)
			}
			if err := exec(ctx, testDSN(b), "VACUUM "+sessions); err != nil {
				b.Fatal(err)
			}
			b.StartTimer()
		}
		first = false
		n, subjects, err := st.RevokeMatching(ctx, sessiond.RevokeFilter{All: true}, now, sessiond.ReasonIncident)
		if err != nil || n != bulkSessions || len(subjects) != bulkSessions/10 {
			b.Fatalf("RevokeMatching(all) = %d, %d subjects, %v; want %d, %d, nil", n, len(subjects), err, bulkSessions, bulkSessions/10)
		}
	}
	b.ReportMetric(float64(bulkSessions)*float64(b.N)/b.Elapsed().Seconds(), "sessions/s")
}

// BenchmarkCountLive1M measures CountLive, the active-sessions gauge, over
// 1,000,000 live sessions (a sequential scan).
func BenchmarkCountLive1M(b *testing.B) {
	st, schema := newStore(b, pgstore.Options{})
	ctx := context.Background()
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	loadSessions(b, schema, bulkSessions, now)
	b.ReportAllocs()
	for b.Loop() {
		live, err := st.CountLive(ctx, now)
		if err != nil || live[sessiond.StrategyHybrid]+live[sessiond.StrategyDatabase] != bulkSessions {
			b.Fatalf("CountLive = %v, %v; want %d in all", live, err, bulkSessions)
		}
	}
}
