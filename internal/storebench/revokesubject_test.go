package storebench

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/rueidis"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/sqlitestore"

	"github.com/sessiond/sessiond/internal/testenv"
)

// hugeSessions is how many sessions BenchmarkRevokeSubjectHuge gives its
// one subject: SESSIOND_BENCH_SUBJECT_SESSIONS, 10,000 without it.
func hugeSessions(b *testing.B) int {
	v := os.Getenv("SESSIOND_BENCH_SUBJECT_SESSIONS")
	if v == "" {
		return 10_000
	}
	n, err := strconv.Atoi(v)
	if err != nil || n <= 0 {
		b.Fatalf("SESSIOND_BENCH_SUBJECT_SESSIONS=%q: want a positive number", v)
	}
	return n
}

// hugeStores are the stores of the huge-subject benchmarks: those of
// stores but Redis with the client-side cache (it serves Get and Lookup
// only), and SQLite.
func hugeStores(b *testing.B) map[string]func(b *testing.B) sessiond.Store {
	all := stores(b)
	delete(all, "redis-cached")
	all["sqlite"] = func(b *testing.B) sessiond.Store {
		st, err := sqlitestore.New(context.Background(), filepath.Join(b.TempDir(), "bench.db"), sqlitestore.Options{})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { st.Close() })
		return st
	}
	return all
}

// hugeClaims are the 4 KB of custom claims of every session of the huge
// subject.
var hugeClaims = []byte(`{"blob":"` + strings.Repeat("x", 4096-11) + `"}`)

// BenchmarkRevokeSubjectHuge: Manager.RevokeSubject of one subject with
// SESSIOND_BENCH_SUBJECT_SESSIONS live sessions (4 KB of claims each, the
// same client), a service account's or an attacker's. Each iteration
// creates them again (timer stopped) and revokes them all; peak-heap-MB
// is the heap's highest point during the revocation, above where it
// started (testenv.HeapPeak). On Redis, the longest command is in the
// server's SLOWLOG (docs/PERFORMANCE.md, "Revoking a huge subject's
// sessions").
func BenchmarkRevokeSubjectHuge(b *testing.B) {
	n := hugeSessions(b)
	for label, newStore := range hugeStores(b) {
		b.Run(label, func(b *testing.B) {
			st := newStore(b)
			m := manager(b, sessiond.StrategyDatabase, st)
			ctx := context.Background()
			b.ReportAllocs()
			var peak uint64
			for b.Loop() {
				b.StopTimer()
				createSubject(b, st, "huge-subject", n)
				b.StartTimer()
				stop := testenv.HeapPeak()
				got, err := m.RevokeSubject(ctx, "huge-subject", "", sessiond.ReasonAdmin)
				peak = max(peak, stop())
				if err != nil || got != n {
					b.Fatalf("RevokeSubject = %d, %v; want %d", got, err, n)
				}
			}
			b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MB")
		})
	}
}

// createSubject stores n live sessions of subject, straight into st, from
// eight goroutines.
func createSubject(b *testing.B, st sessiond.Store, subject string, n int) {
	b.Helper()
	now := time.Now().UTC().Truncate(time.Microsecond)
	var (
		wg   sync.WaitGroup
		next = make(chan struct{})
		errs = make(chan error, 8)
	)
	defer func() {
		close(next)
		wg.Wait()
	}()
	for range 8 {
		wg.Go(func() {
			for range next {
				s := &sessiond.Session{
					ID: sessiond.NewSessionID(), Subject: subject, Strategy: sessiond.StrategyDatabase,
					CreatedAt: now, LastActiveAt: now, IdleExpiresAt: now.Add(30 * time.Minute), ExpiresAt: now.Add(8 * time.Hour),
					Client: sessiond.Client{IP: "203.0.113.7", UserAgent: "Mozilla/5.0 (X11; Linux x86_64) service-account/1.0"},
					Claims: hugeClaims,
				}
				if err := st.Create(context.Background(), s); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	for range n {
		select {
		case next <- struct{}{}:
		case err := <-errs:
			b.Fatalf("create: %v", err)
		}
	}
}

// BenchmarkSubjectReadsHuge: the two reads of every session of a subject
// with SESSIOND_BENCH_SUBJECT_SESSIONS live sessions (4 KB of claims
// each): List (the API's and the console's listing) and SubjectClients
// (what RevokeSubject reads before it revokes). The sessions are created
// once; each iteration reads them all. On Redis it also reports
// redis-µs/session, Redis's own CPU time (testenv.RedisCPU) a session
// read: run it on a Redis nothing else uses.
func BenchmarkSubjectReadsHuge(b *testing.B) {
	n := hugeSessions(b)
	for label, newStore := range hugeStores(b) {
		b.Run(label, func(b *testing.B) {
			st := newStore(b)
			createSubject(b, st, "huge-subject", n)
			now := time.Now()
			ctx := context.Background()
			serverCPU := func(*testing.B) func() { return func() {} }
			if label == "redis" {
				serverCPU = func(b *testing.B) func() { return reportRedisCPU(b, n) }
			}
			b.Run("List", func(b *testing.B) {
				b.ReportAllocs()
				defer serverCPU(b)()
				for b.Loop() {
					if ss, err := st.List(ctx, "huge-subject", now); err != nil || len(ss) != n {
						b.Fatalf("List = %d sessions, %v; want %d", len(ss), err, n)
					}
				}
			})
			b.Run("SubjectClients", func(b *testing.B) {
				l, ok := st.(sessiond.SubjectClientLister)
				if !ok {
					b.Skip("not a SubjectClientLister")
				}
				b.ReportAllocs()
				defer serverCPU(b)()
				for b.Loop() {
					if cs, err := l.SubjectClients(ctx, "huge-subject", now); err != nil || len(cs) != n {
						b.Fatalf("SubjectClients = %d clients, %v; want %d", len(cs), err, n)
					}
				}
			})
		})
	}
}

// reportRedisCPU measures the CPU time of the Redis at
// SESSIOND_TEST_REDIS_URL from now until the benchmark ends, and reports
// it a session of the n each operation reads.
func reportRedisCPU(b *testing.B, n int) func() {
	opt, err := rueidis.ParseURL(os.Getenv("SESSIOND_TEST_REDIS_URL"))
	if err != nil {
		b.Fatal(err)
	}
	c, err := rueidis.NewClient(opt)
	if err != nil {
		b.Fatal(err)
	}
	start := testenv.RedisCPU(b, c)
	return func() {
		defer c.Close()
		b.ReportMetric(float64(testenv.RedisCPU(b, c)-start)/float64(time.Microsecond)/float64(b.N*n), "redis-µs/session")
	}
}
