package storebench

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/rueidis"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/jwttoken"
	"github.com/sessiond/sessiond/memstore"
	"github.com/sessiond/sessiond/opaquetoken"
	"github.com/sessiond/sessiond/pgstore"
	"github.com/sessiond/sessiond/redisstore"

	"github.com/sessiond/sessiond/internal/testenv"
)

func name() string { return testenv.UniqueName("bench") }

// stores returns the stores to benchmark; PostgreSQL and Redis only when
// their URLs are set.
func stores(b *testing.B) map[string]func(b *testing.B) sessiond.Store {
	out := map[string]func(b *testing.B) sessiond.Store{
		"memory": func(*testing.B) sessiond.Store { return memstore.New() },
	}
	if u := os.Getenv("SESSIOND_TEST_POSTGRES_URL"); u != "" {
		out["postgres"] = func(b *testing.B) sessiond.Store {
			schema := name()
			st, err := pgstore.New(context.Background(), u, pgstore.Options{Schema: schema})
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() {
				pool, err := pgxpool.New(context.Background(), u)
				if err == nil {
					pool.Exec(context.Background(), "DROP SCHEMA "+schema+" CASCADE")
					pool.Close()
				}
				st.Close()
			})
			return st
		}
	}
	if u := os.Getenv("SESSIOND_TEST_REDIS_URL"); u != "" {
		for label, cache := range map[string]time.Duration{"redis": 0, "redis-cached": time.Minute} {
			out[label] = func(b *testing.B) sessiond.Store {
				prefix := name()
				st, err := redisstore.New(context.Background(), u, redisstore.Options{Prefix: prefix, ClientCache: cache})
				if err != nil {
					b.Fatal(err)
				}
				b.Cleanup(func() { st.Close(); testenv.DeleteRedisPrefix(b, u, prefix) })
				return st
			}
		}
	}
	return out
}

func manager(b *testing.B, st sessiond.Strategy, store sessiond.Store) *sessiond.Manager {
	ring, err := jwttoken.NewRing(time.Now(), jwttoken.RingOptions{MaxTokenLifetime: 30 * 24 * time.Hour})
	if err != nil {
		b.Fatal(err)
	}
	codec, err := jwttoken.New(ring, jwttoken.Options{Issuer: "bench", Audience: "bench"})
	if err != nil {
		b.Fatal(err)
	}
	m, err := sessiond.New(context.Background(), sessiond.Options{Strategy: st, Store: store, Signed: codec,
		Opaque: opaquetoken.Codec{}, GCInterval: -1, WatermarkPoll: -1})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { m.Close() })
	return m
}

func each(b *testing.B, fn func(b *testing.B, newStore func(*testing.B) sessiond.Store)) {
	for label, newStore := range stores(b) {
		b.Run(label, func(b *testing.B) { fn(b, newStore) })
	}
}

// warmTokens creates 200 database sessions on m and verifies each once,
// so any client-side cache holds them, and returns their access tokens.
func warmTokens(b *testing.B, m *sessiond.Manager) []sessiond.Secret {
	ctx := context.Background()
	toks := make([]sessiond.Secret, 200)
	for i := range toks {
		iss, err := m.Create(ctx, fmt.Sprintf("u%d", i), sessiond.CreateOptions{})
		if err != nil {
			b.Fatal(err)
		}
		toks[i] = iss.AccessToken
	}
	if strings.HasSuffix(b.Name(), "cached") {
		// The cache skips keys this client wrote in the last 2 s (so it
		// reads its own writes); real tokens are verified for far longer.
		time.Sleep(2500 * time.Millisecond)
	}
	for _, t := range toks {
		m.Verify(ctx, t, sessiond.Client{}) // warm any client cache
	}
	return toks
}

// BenchmarkVerifyDatabase: database-strategy verify, many sessions each
// presented many times.
func BenchmarkVerifyDatabase(b *testing.B) {
	each(b, func(b *testing.B, newStore func(*testing.B) sessiond.Store) {
		m := manager(b, sessiond.StrategyDatabase, newStore(b))
		ctx := context.Background()
		toks := warmTokens(b, m)
		loop(b, false, func(i int) error {
			_, err := m.Verify(ctx, toks[i%len(toks)], sessiond.Client{})
			return err
		})
	})
}

func BenchmarkCreateHybrid(b *testing.B) {
	each(b, func(b *testing.B, newStore func(*testing.B) sessiond.Store) {
		m := manager(b, sessiond.StrategyHybrid, newStore(b))
		ctx := context.Background()
		loop(b, false, func(i int) error {
			_, err := m.Create(ctx, fmt.Sprintf("u%d", i%500), sessiond.CreateOptions{})
			return err
		})
	})
}

func BenchmarkRefreshHybrid(b *testing.B) {
	each(b, func(b *testing.B, newStore func(*testing.B) sessiond.Store) {
		m := manager(b, sessiond.StrategyHybrid, newStore(b))
		ctx := context.Background()
		iss, err := m.Create(ctx, "u", sessiond.CreateOptions{Persistent: true})
		if err != nil {
			b.Fatal(err)
		}
		rt := iss.RefreshToken
		b.ReportAllocs()
		for b.Loop() {
			next, err := m.Refresh(ctx, rt, sessiond.Client{})
			if err != nil {
				b.Fatal(err)
			}
			rt = next.RefreshToken
		}
	})
}

// BenchmarkVerifyDatabaseParallel: 32 concurrent callers.
func BenchmarkVerifyDatabaseParallel(b *testing.B) {
	each(b, func(b *testing.B, newStore func(*testing.B) sessiond.Store) {
		m := manager(b, sessiond.StrategyDatabase, newStore(b))
		ctx := context.Background()
		toks := warmTokens(b, m)
		loop(b, true, func(i int) error {
			_, err := m.Verify(ctx, toks[i%len(toks)], sessiond.Client{})
			return err
		})
	})
}

// The raw driver operations the stores stand on.

func BenchmarkRawPostgresSelect(b *testing.B)         { rawPostgres(b, false) }
func BenchmarkRawPostgresSelectParallel(b *testing.B) { rawPostgres(b, true) }
func BenchmarkRawRedisGet(b *testing.B)               { rawRedis(b, false) }
func BenchmarkRawRedisGetParallel(b *testing.B)       { rawRedis(b, true) }

// loop runs op b.N times, from 32 goroutines when parallel.
func loop(b *testing.B, parallel bool, op func(i int) error) {
	b.ReportAllocs()
	if !parallel {
		i := 0
		for b.Loop() {
			if err := op(i); err != nil {
				b.Fatal(err)
			}
			i++
		}
		return
	}
	b.SetParallelism(16)
	b.ResetTimer()
	testenv.ParallelOps(b, op)
}

func rawPostgres(b *testing.B, parallel bool) {
	u := os.Getenv("SESSIOND_TEST_POSTGRES_URL")
	if u == "" {
		b.Skip("SESSIOND_TEST_POSTGRES_URL not set")
	}
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, u)
	if err != nil {
		b.Fatal(err)
	}
	defer pool.Close()
	tbl := name()
	if _, err := pool.Exec(ctx, "CREATE TABLE "+tbl+" (id text PRIMARY KEY, subject text, strategy text, created_at timestamptz, expires_at timestamptz, client_ip text, client_ua text, claims bytea, revoked_at timestamptz)"); err != nil {
		b.Fatal(err)
	}
	defer pool.Exec(ctx, "DROP TABLE "+tbl)
	ids := make([]string, 200)
	for i := range ids {
		ids[i] = name()
		if _, err := pool.Exec(ctx, "INSERT INTO "+tbl+" VALUES ($1,'u','database',now(),now()+interval '1 hour','203.0.113.1','ua',NULL,NULL)", ids[i]); err != nil {
			b.Fatal(err)
		}
	}
	loop(b, parallel, func(i int) error {
		var (
			id, subject, strategy, ip, ua string
			created, expires              time.Time
			claims                        []byte
			revoked                       *time.Time
		)
		return pool.QueryRow(ctx, "SELECT id, subject, strategy, created_at, expires_at, client_ip, client_ua, claims, revoked_at FROM "+tbl+" WHERE id = $1",
			ids[i%len(ids)]).Scan(&id, &subject, &strategy, &created, &expires, &ip, &ua, &claims, &revoked)
	})
}

func rawRedis(b *testing.B, parallel bool) {
	u := os.Getenv("SESSIOND_TEST_REDIS_URL")
	if u == "" {
		b.Skip("SESSIOND_TEST_REDIS_URL not set")
	}
	opt, err := rueidis.ParseURL(u)
	if err != nil {
		b.Fatal(err)
	}
	c, err := rueidis.NewClient(opt)
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()
	key := name()
	val := make([]byte, 300)
	if err := c.Do(ctx, c.B().Set().Key(key).Value(string(val)).Ex(time.Minute).Build()).Error(); err != nil {
		b.Fatal(err)
	}
	loop(b, parallel, func(int) error {
		_, err := c.Do(ctx, c.B().Get().Key(key).Build()).ToString()
		return err
	})
}

// BenchmarkRawMapRead is the in-memory baseline: a read-locked map lookup
// of a copied struct, what memstore's Lookup stands on.
func BenchmarkRawMapRead(b *testing.B) {
	st := memstore.New()
	_ = st
	m := map[string]sessiond.Session{}
	keys := make([]string, 200)
	for i := range keys {
		keys[i] = name()
		m[keys[i]] = sessiond.Session{Subject: "u"}
	}
	var sink sessiond.Session
	i := 0
	for b.Loop() {
		sink = m[keys[i%len(keys)]]
		i++
	}
	_ = sink
}
