package storebench

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/rueidis"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/opaquetoken"
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
// started (testenv.HeapPeak). On Redis, median-script-ms and
// longest-script-ms are those of the revocation's scripts in the server's
// SLOWLOG, which it resets first: run it on a Redis of its own started with
// --slowlog-log-slower-than below a millisecond. With
// SESSIOND_BENCH_GET_PROBE=1 another client sends a GET each millisecond
// throughout the revocation (get-p99-ms, get-max-ms: what every other
// caller of Redis waited); its garbage counts in peak-heap-MB, so take
// the heap from a run without it. longest-other-ms is the slowest other
// command in the SLOWLOG meanwhile: one as slow as a script means the
// host descheduled Redis (docs/PERFORMANCE.md, "Revoking a huge subject's
// sessions").
func BenchmarkRevokeSubjectHuge(b *testing.B) {
	n := hugeSessions(b)
	for label, newStore := range hugeStores(b) {
		b.Run(label, func(b *testing.B) {
			st := newStore(b)
			m := manager(b, sessiond.StrategyDatabase, st)
			ctx := context.Background()
			var probe *redisProbe
			if label == "redis" {
				probe = newRedisProbe(b, os.Getenv("SESSIOND_BENCH_GET_PROBE") == "1")
			}
			revokeHuge(b, ctx, m, st, n, probe)
		})
	}
}

// BenchmarkRevokeSubjectHugeEvents is BenchmarkRevokeSubjectHuge on Redis
// with the events written with the change, as the server writes them with
// a webhook endpoint: each event and one outbox delivery of it go to the
// store with the revocation (an AtomicSink).
func BenchmarkRevokeSubjectHugeEvents(b *testing.B) {
	n := hugeSessions(b)
	newStore, ok := hugeStores(b)["redis"]
	if !ok {
		b.Skip("SESSIOND_TEST_REDIS_URL is not set")
	}
	st := newStore(b)
	m, err := sessiond.New(context.Background(), sessiond.Options{Strategy: sessiond.StrategyDatabase, Store: st,
		Opaque: opaquetoken.Codec{}, GCInterval: -1, WatermarkPoll: -1, Events: carriedEvents{}})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { m.Close() })
	probe := newRedisProbe(b, os.Getenv("SESSIOND_BENCH_GET_PROBE") == "1")
	revokeHuge(b, context.Background(), m, st, n, probe)
}

// revokeHuge measures m.RevokeSubject of a subject of n sessions, created
// in st before each round outside the timer, with its peak heap and, on
// Redis, the probe's figures.
func revokeHuge(b *testing.B, ctx context.Context, m *sessiond.Manager, st sessiond.Store, n int, probe *redisProbe) {
	b.ReportAllocs()
	var peak uint64
	for b.Loop() {
		b.StopTimer()
		createSubject(b, st, "huge-subject", n)
		probe.start(b)
		b.StartTimer()
		stop := testenv.HeapPeak()
		got, err := m.RevokeSubject(ctx, "huge-subject", "", sessiond.ReasonAdmin)
		peak = max(peak, stop())
		b.StopTimer()
		probe.stop(b)
		if err != nil || got != n {
			b.Fatalf("RevokeSubject = %d, %v; want %d", got, err, n)
		}
		b.StartTimer()
	}
	b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MB")
	probe.report(b)
}

// BenchmarkKillSwitchSubjectHuge is BenchmarkRevokeSubjectHuge for the
// kill switch with a subject (sessiond incident revoke --subject):
// RevokeMatching{Subjects} of the one subject of
// SESSIOND_BENCH_SUBJECT_SESSIONS sessions on Redis, store-level, with
// the same probe (SLOWLOG, and the GETs with SESSIOND_BENCH_GET_PROBE=1).
func BenchmarkKillSwitchSubjectHuge(b *testing.B) {
	n := hugeSessions(b)
	newStore, ok := hugeStores(b)["redis"]
	if !ok {
		b.Skip("SESSIOND_TEST_REDIS_URL is not set")
	}
	st := newStore(b)
	br := st.(sessiond.BulkRevoker)
	probe := newRedisProbe(b, os.Getenv("SESSIOND_BENCH_GET_PROBE") == "1")
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		b.StopTimer()
		createSubject(b, st, "huge-subject", n)
		probe.start(b)
		at := time.Now()
		b.StartTimer()
		got, _, err := br.RevokeMatching(ctx, sessiond.RevokeFilter{Subjects: []string{"huge-subject"}, IssuedBefore: at.Add(time.Microsecond), NoSubjects: true},
			at, sessiond.ReasonIncident)
		b.StopTimer()
		probe.stop(b)
		if err != nil || got != n {
			b.Fatalf("RevokeMatching = %d, %v; want %d", got, err, n)
		}
		b.StartTimer()
	}
	probe.report(b)
}

// BenchmarkRedisGetsIdle is the GETs of SESSIOND_BENCH_GET_PROBE for five
// seconds with nothing else sent: what get-p99-ms and get-max-ms are on
// the same host without a revocation, and the slowest single command
// meanwhile (longest-other-ms: the host descheduling Redis).
func BenchmarkRedisGetsIdle(b *testing.B) {
	if os.Getenv("SESSIOND_TEST_REDIS_URL") == "" {
		b.Skip("SESSIOND_TEST_REDIS_URL is not set")
	}
	p := newRedisProbe(b, true)
	for b.Loop() {
		p.start(b)
		time.Sleep(5 * time.Second) // the time measured, not a wait for anything
		p.stop(b)
	}
	p.report(b)
}

// carriedEvents hands each event to the store with one outbox delivery, as
// the server's sink does with one webhook endpoint.
type carriedEvents struct{}

func (carriedEvents) Record(context.Context, sessiond.Event) error { return nil }

func (carriedEvents) Prepare(_ context.Context, e sessiond.Event) ([]sessiond.Event, []sessiond.Delivery, bool, error) {
	d := sessiond.Delivery{ID: "msg_" + e.ID, Endpoint: "ops", EventID: e.ID, Payload: []byte(`{"type":"` + string(e.Type) + `"}`),
		State: sessiond.DeliveryPending, NextAttemptAt: e.Time, CreatedAt: e.Time, UpdatedAt: e.Time}
	return []sessiond.Event{e}, []sessiond.Delivery{d}, true, nil
}

func (carriedEvents) Committed(context.Context, sessiond.Event) {}

// redisProbe watches the Redis at SESSIOND_TEST_REDIS_URL during a
// revocation: the longest script in SLOWLOG and, with gets, the latencies
// of GETs another client sends each millisecond. A nil probe does
// nothing.
type redisProbe struct {
	c       rueidis.Client
	probe   bool // send the GETs
	done    chan struct{}
	wg      sync.WaitGroup
	gets    []time.Duration // every GET of every revocation
	scripts []time.Duration // every script in the SLOWLOG, of every revocation
	other   time.Duration   // the slowest other command in it
}

func newRedisProbe(b *testing.B, gets bool) *redisProbe {
	opt, err := rueidis.ParseURL(os.Getenv("SESSIOND_TEST_REDIS_URL"))
	if err != nil {
		b.Fatal(err)
	}
	opt.DisableCache = true
	c, err := rueidis.NewClient(opt)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(c.Close)
	// Room for every GET up front: the slice must not grow during the
	// revocation.
	return &redisProbe{c: c, probe: gets, gets: make([]time.Duration, 0, 1<<21)}
}

// start resets the SLOWLOG and starts the GETs.
func (p *redisProbe) start(b *testing.B) {
	if p == nil {
		return
	}
	ctx := context.Background()
	if err := p.c.Do(ctx, p.c.B().SlowlogReset().Build()).Error(); err != nil {
		b.Fatal(err)
	}
	p.done = make(chan struct{})
	if !p.probe {
		return
	}
	// Open loop, a GET each millisecond whether the last has been answered
	// or not, as independent callers send them: a script that holds Redis
	// for a second delays the thousand sent meanwhile, not one.
	p.wg.Go(func() {
		get := p.c.B().Get().Key("storebench-probe").Build().Pin()
		tick := time.NewTicker(time.Millisecond)
		defer tick.Stop()
		var (
			sent sync.WaitGroup
			mu   sync.Mutex
		)
		defer sent.Wait()
		for {
			select {
			case <-p.done:
				return
			case <-tick.C:
			}
			sent.Go(func() {
				t := time.Now()
				if err := p.c.Do(ctx, get).Error(); err != nil && !rueidis.IsRedisNil(err) {
					b.Error(err)
					return
				}
				d := time.Since(t)
				mu.Lock()
				p.gets = append(p.gets, d)
				mu.Unlock()
			})
		}
	})
}

// stop ends the GETs and reads the SLOWLOG's scripts.
func (p *redisProbe) stop(b *testing.B) {
	if p == nil {
		return
	}
	close(p.done)
	p.wg.Wait()
	entries, err := p.c.Do(context.Background(), p.c.B().SlowlogGet().Count(-1).Build()).ToArray()
	if err != nil {
		b.Fatal(err)
	}
	for _, e := range entries {
		f, err := e.ToArray()
		if err != nil || len(f) < 4 {
			b.Fatalf("SLOWLOG entry %v: %v", e, err)
		}
		us, _ := f[2].AsInt64()
		args, _ := f[3].AsStrSlice()
		if len(args) == 0 || !strings.HasPrefix(strings.ToUpper(args[0]), "EVAL") {
			p.other = max(p.other, time.Duration(us)*time.Microsecond)
			continue
		}
		p.scripts = append(p.scripts, time.Duration(us)*time.Microsecond)
	}
}

// report reports the GETs' p99 and maximum and the longest script.
func (p *redisProbe) report(b *testing.B) {
	if p == nil {
		return
	}
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	if len(p.gets) > 0 {
		slices.Sort(p.gets)
		b.ReportMetric(ms(p.gets[len(p.gets)*99/100]), "get-p99-ms")
		b.ReportMetric(ms(p.gets[len(p.gets)-1]), "get-max-ms")
		b.ReportMetric(float64(len(p.gets))/float64(b.N), "gets/op")
	}
	if len(p.scripts) > 0 {
		slices.Sort(p.scripts)
		b.ReportMetric(ms(p.scripts[len(p.scripts)/2]), "median-script-ms")
		b.ReportMetric(ms(p.scripts[len(p.scripts)-1]), "longest-script-ms")
	}
	b.ReportMetric(float64(len(p.scripts))/float64(b.N), "slow-scripts/op")
	// A single command as slow as a script says the host descheduled
	// Redis, not that the script's work took that long.
	b.ReportMetric(ms(p.other), "longest-other-ms")
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
func reportRedisCPU(b *testing.B, n int) func() { return reportRedisCPUUnit(b, n, "redis-µs/session") }

// reportRedisCPUUnit is reportRedisCPU's measure, reported a unit of the
// n each operation handles, named unit.
func reportRedisCPUUnit(b *testing.B, n int, unit string) func() {
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
		b.ReportMetric(float64(testenv.RedisCPU(b, c)-start)/float64(time.Microsecond)/float64(b.N*n), unit)
	}
}
