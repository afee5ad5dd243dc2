package storebench

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/sessiond/sessiond"
)

// BenchmarkSubjectPagesHuge: the store reads behind the two request-driven
// reads of one subject with SESSIOND_BENCH_SUBJECT_SESSIONS live sessions
// (4 KB of claims each, created a microsecond apart), store-level: what
// the concurrent-login check after a login read (List, every session;
// now two ListPage calls of 128, newest first, as the check's walk makes
// them) and what a replayed refresh token of a rotated session read (List;
// now ListSpan, the successors alone). "small" is the same reads of a
// subject with three sessions, every login's case. On Redis it also
// reports redis-µs/op, Redis's own CPU time a read (testenv.RedisCPU): run
// it on a Redis nothing else uses.
func BenchmarkSubjectPagesHuge(b *testing.B) {
	n := hugeSessions(b)
	for label, newStore := range hugeStores(b) {
		b.Run(label, func(b *testing.B) {
			st := newStore(b)
			p, ok := st.(sessiond.SubjectPager)
			if !ok {
				b.Skip("not a SubjectPager")
			}
			now := time.Now().UTC().Truncate(time.Microsecond)
			mid := createSpread(b, st, "huge-subject", n, now)
			createSpread(b, st, "small-subject", 3, now)
			ctx := context.Background()
			serverCPU := func(*testing.B) func() { return func() {} }
			if label == "redis" {
				serverCPU = reportRedisCPUPerOp
			}
			for _, subject := range []struct{ label, name string }{{"huge", "huge-subject"}, {"small", "small-subject"}} {
				b.Run(subject.label+"/List", func(b *testing.B) {
					b.ReportAllocs()
					defer serverCPU(b)()
					for b.Loop() {
						if _, err := st.List(ctx, subject.name, now); err != nil {
							b.Fatal(err)
						}
					}
				})
				b.Run(subject.label+"/ConcurrentCheck", func(b *testing.B) {
					b.ReportAllocs()
					defer serverCPU(b)()
					for b.Loop() {
						q := sessiond.PageQuery{Subject: subject.name, Now: now, Limit: 128, Newest: true}
						for range 2 {
							page, err := p.ListPage(ctx, q)
							if err != nil {
								b.Fatal(err)
							}
							if q.After = page.Next; q.After == "" {
								break
							}
						}
					}
				})
			}
			b.Run("huge/Span", func(b *testing.B) {
				b.ReportAllocs()
				defer serverCPU(b)()
				for b.Loop() {
					if ss, err := p.ListSpan(ctx, "huge-subject", mid.CreatedAt, mid.ExpiresAt, now); err != nil || len(ss) != 1 {
						b.Fatalf("ListSpan = %d sessions, %v; want 1", len(ss), err)
					}
				}
			})
		})
	}
}

// createSpread stores n live sessions of subject straight into st, from
// eight goroutines, created a microsecond apart before now, each ending
// eight hours after it was created (so no two share either time), and
// returns the one in the middle.
func createSpread(b *testing.B, st sessiond.Store, subject string, n int, now time.Time) *sessiond.Session {
	b.Helper()
	var (
		wg     sync.WaitGroup
		mu     sync.Mutex
		failed error
		mid    *sessiond.Session
	)
	for w := range 8 {
		wg.Go(func() {
			for i := w; i < n; i += 8 {
				created := now.Add(-time.Duration(n-i) * time.Microsecond)
				s := &sessiond.Session{
					ID: sessiond.NewSessionID(), Subject: subject, Strategy: sessiond.StrategyDatabase,
					CreatedAt: created, LastActiveAt: created, IdleExpiresAt: now.Add(30 * time.Minute), ExpiresAt: created.Add(8 * time.Hour),
					Client: sessiond.Client{IP: "203.0.113.7", UserAgent: "Mozilla/5.0 (X11; Linux x86_64) service-account/1.0"},
					Claims: hugeClaims,
				}
				err := st.Create(context.Background(), s)
				mu.Lock()
				if err != nil && failed == nil {
					failed = err
				}
				if i == n/2 {
					mid = s
				}
				mu.Unlock()
				if err != nil {
					return
				}
			}
		})
	}
	wg.Wait()
	if failed != nil {
		b.Fatalf("create: %v", failed)
	}
	return mid
}

// reportRedisCPUPerOp is reportRedisCPU an operation (a "session" of one).
func reportRedisCPUPerOp(b *testing.B) func() { return reportRedisCPUUnit(b, 1, "redis-µs/op") }
