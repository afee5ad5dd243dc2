package redisstore_test

// Run once, with a Redis that has a few GB to spare:
//
//	SESSIOND_TEST_REDIS_URL=redis://127.0.0.1:6379/0 go test -run x -bench RevokeMatchingAll1M -benchtime 1x ./redisstore/
//
// (-bench RevokeMatchingAll1M/nosubjects for one of its two cases.)
//
// Besides the time it reports the CPU Redis spent revoking (INFO cpu) and
// the round trip of PINGs sent back to back meanwhile on another
// connection: how long other clients wait behind the scripts.

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/rueidis"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/redisstore"

	"github.com/sessiond/sessiond/internal/testenv"
)

// BenchmarkRevokeMatchingAll1M measures the incident kill switch over a
// million live sessions of as many subjects, as `sessiond incident revoke
// --all` calls it (All, issued before just after the incident): with the
// subjects (--notify) and without. The sessions are written outside the
// timer, straight in the store's key layout (docs/redisstore.md) with
// pipelined commands, under a fresh prefix that is deleted afterwards.
func BenchmarkRevokeMatchingAll1M(b *testing.B) {
	for _, c := range []struct {
		name       string
		noSubjects bool
	}{{"subjects", false}, {"nosubjects", true}} {
		b.Run(c.name, func(b *testing.B) { benchRevokeMatchingAll1M(b, c.noSubjects) })
	}
}

func benchRevokeMatchingAll1M(b *testing.B, noSubjects bool) {
	const sessions, subjects = 1_000_000, 1_000_000
	ctx := context.Background()
	url := redisURL(b)
	raw := rawClient(b)
	for b.Loop() {
		b.StopTimer()
		prefix := randomPrefix()
		st, err := redisstore.New(ctx, url, redisstore.Options{Prefix: prefix})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { st.Close(); unlinkAll(b, raw, prefix) }) // also when it fails
		start := time.Now()
		probe := bulkLoad(b, raw, prefix, sessions, subjects)
		b.Logf("loaded %d sessions in %v; Redis used_memory %s", sessions, time.Since(start).Round(time.Millisecond), usedMemory(b, raw))
		// The load is what the store would have written: readable and
		// counted as live.
		if s, err := st.Get(ctx, probe); err != nil || s.Revoked() {
			b.Fatalf("Get(loaded session) = %v, %v; want a live session", s, err)
		}
		if live, err := st.CountLive(ctx, benchNow); err != nil || live[sessiond.StrategyDatabase] != sessions {
			b.Fatalf("CountLive = %v, %v; want %d database sessions", live, err, sessions)
		}

		cpu := testenv.RedisCPU(b, raw)
		stop := redisProbe(b, raw, "PING", func() rueidis.Completed { return raw.B().Ping().Build() })
		b.StartTimer()
		f := sessiond.RevokeFilter{All: true, IssuedBefore: benchNow.Add(time.Microsecond), NoSubjects: noSubjects}
		n, subs, err := st.RevokeMatching(ctx, f, benchNow, sessiond.ReasonIncident)
		b.StopTimer()
		pings := stop()
		b.ReportMetric((testenv.RedisCPU(b, raw) - cpu).Seconds(), "redis-cpu-s")
		reportLatency(b, pings, "ping")
		wantSubs := subjects
		if noSubjects {
			wantSubs = 0
		}
		if err != nil || n != sessions || len(subs) != wantSubs {
			b.Fatalf("RevokeMatching(%+v) = %d, %d subjects, %v; want %d, %d", f, n, len(subs), err, sessions, wantSubs)
		}
		if s, err := st.Get(ctx, probe); err != nil || s.RevokeReason != sessiond.ReasonIncident {
			b.Fatalf("Get(after RevokeMatching) = %v, %v; want revoked", s, err)
		}
		if live, err := st.CountLive(ctx, benchNow); err != nil || live[sessiond.StrategyDatabase] != 0 {
			b.Fatalf("CountLive after RevokeMatching = %v, %v; want 0", live, err)
		}
		b.Logf("Redis used_memory after revoking %s", usedMemory(b, raw))
		start = time.Now()
		unlinkAll(b, raw, prefix)
		b.Logf("deleted the keys in %v", time.Since(start).Round(time.Millisecond))
		b.StartTimer()
	}
	b.ReportMetric(float64(sessions)*float64(b.N)/b.Elapsed().Seconds(), "sessions/s")
}

// bulkLoad writes n live database-strategy sessions of `subjects` subjects
// in the store's layout: each session's hash (with a refresh token, as a
// login's: its 66-byte field makes Redis keep the hash as a hash table,
// not a listpack) and ID key, the subject indexes, and the global GC,
// expiry and live indexes. It returns the ID of one of them.
func bulkLoad(b *testing.B, c rueidis.Client, prefix string, n, subjects int) sessiond.SessionID {
	b.Helper()
	const batch, workers = 2000, 4
	ctx := context.Background()
	global := func(name string) string { return globalKey(prefix, name) }
	exp := benchNow.Add(8 * time.Hour)
	idle := benchNow.Add(30 * time.Minute)
	expUS, idleUS := strconv.FormatInt(exp.UnixMicro(), 10), strconv.FormatInt(idle.UnixMicro(), 10)
	expMS := exp.UnixMilli()
	now := strconv.FormatInt(benchNow.UnixMicro(), 10)
	tok := "2|" + now + "|" + idleUS + "|0"
	tags := make([]string, subjects)
	for i := range tags {
		tags[i] = tagOf(benchSubject(i))
	}
	var probe sessiond.SessionID
	var mu sync.Mutex
	var wg sync.WaitGroup
	var failed error
	work := make(chan int)
	for range workers {
		wg.Go(func() {
			for from := range work {
				to := min(from+batch, n)
				cmds := make(rueidis.Commands, 0, 4*(to-from)+3)
				gc := c.B().Zadd().Key(global("gc")).ScoreMember()
				ex := c.B().Zadd().Key(global("exp")).ScoreMember()
				live := c.B().Zadd().Key(prefix + ":{" + prefix + "}:live:database").ScoreMember()
				for i := from; i < to; i++ {
					subject, tag := benchSubject(i%subjects), tags[i%subjects]
					id := sessiond.NewSessionID()
					if i == n/2 {
						probe = id
					}
					key := prefix + ":{" + tag + "}:s:" + string(id)
					cmds = append(cmds,
						c.B().Hset().Key(key).FieldValue().FieldValue("sub", subject).FieldValue("str", "database").
							FieldValue("c", now).FieldValue("la", now).FieldValue("ie", idleUS).FieldValue("e", expUS).
							FieldValue("p", "0").FieldValue("ip", "203.0.113.7").FieldValue("ua", "Mozilla/5.0 (X11; Linux x86_64) bench").
							FieldValue("ra", "0").FieldValue("rr", "").
							FieldValue(fmt.Sprintf("t:%064x", i), tok).Build(),
						c.B().Pexpireat().Key(key).MillisecondsTimestamp(expMS).Build(),
						c.B().Set().Key(prefix+":sid:"+string(id)).Value(tag).PxatMillisecondsTimestamp(expMS).Build(),
						c.B().Zadd().Key(idxKey(prefix, subject)).ScoreMember().ScoreMember(float64(exp.UnixMicro()), string(id)).Build(),
					)
					r := tag + string(id)
					gc = gc.ScoreMember(float64(idle.UnixMicro()), r)
					ex = ex.ScoreMember(float64(exp.UnixMicro()), r)
					live = live.ScoreMember(float64(idle.UnixMicro()), r)
				}
				cmds = append(cmds, gc.Build(), ex.Build(), live.Build())
				for _, r := range c.DoMulti(ctx, cmds...) {
					if err := r.Error(); err != nil {
						mu.Lock()
						failed = err
						mu.Unlock()
						break
					}
				}
			}
		})
	}
	for from := 0; from < n; from += batch {
		work <- from
	}
	close(work)
	wg.Wait()
	if failed != nil {
		b.Fatalf("bulk load: %v", failed)
	}
	// Every key has a TTL, as the store's own writes give them.
	var cmds rueidis.Commands
	for i := range subjects {
		cmds = append(cmds, c.B().Pexpireat().Key(idxKey(prefix, benchSubject(i))).MillisecondsTimestamp(expMS).Build())
	}
	strategies := prefix + ":{" + prefix + "}:strategies"
	cmds = append(cmds, c.B().Sadd().Key(strategies).Member("database").Build())
	for _, k := range []string{global("gc"), global("exp"), prefix + ":{" + prefix + "}:live:database", strategies} {
		cmds = append(cmds, c.B().Pexpireat().Key(k).MillisecondsTimestamp(expMS).Build())
	}
	for _, r := range c.DoMulti(ctx, cmds...) {
		if err := r.Error(); err != nil {
			b.Fatalf("bulk load: %v", err)
		}
	}
	return probe
}

// redisProbe sends cmd (a new one each time: rueidis recycles a sent
// command) back to back on its own connection until the returned function
// is called, which returns each one's round trip: what another client waits
// while the revocation runs.
func redisProbe(b *testing.B, c rueidis.Client, name string, cmd func() rueidis.Completed) func() []time.Duration {
	b.Helper()
	var (
		wg   sync.WaitGroup
		rtts []time.Duration
		err  error
	)
	done := make(chan struct{})
	wg.Go(func() {
		for {
			select {
			case <-done:
				return
			default:
			}
			start := time.Now()
			if err = c.Do(context.Background(), cmd()).Error(); err != nil {
				return
			}
			rtts = append(rtts, time.Since(start))
		}
	})
	return func() []time.Duration {
		close(done)
		wg.Wait()
		if err != nil {
			b.Fatalf("%s = %v", name, err)
		}
		return rtts
	}
}

// reportLatency reports the median, 99th percentile and maximum of d in
// µs.
func reportLatency(b *testing.B, d []time.Duration, name string) {
	if len(d) == 0 {
		return
	}
	slices.Sort(d)
	us := func(q float64) float64 { return float64(d[int(q*float64(len(d)-1))].Microseconds()) }
	b.ReportMetric(us(0.5), name+"-p50-µs")
	b.ReportMetric(us(0.99), name+"-p99-µs")
	b.ReportMetric(us(1), name+"-max-µs")
}

func benchSubject(i int) string { return fmt.Sprintf("user%06d", i) }

// unlinkAll deletes every key under prefix, a pipelined batch at a time.
// The keys each node lists go through c, which sends each to its master
// (a Cluster's replicas list keys they answer MOVED for).
func unlinkAll(tb testing.TB, c rueidis.Client, prefix string) {
	tb.Helper()
	ctx := context.Background()
	for _, node := range c.Nodes() {
		var cursor uint64
		for {
			e, err := node.Do(ctx, node.B().Scan().Cursor(cursor).Match(prefix+":*").Count(10000).Build()).AsScanEntry()
			if err != nil {
				tb.Fatalf("SCAN %s:* = %v", prefix, err)
			}
			cmds := make(rueidis.Commands, 0, len(e.Elements))
			for _, k := range e.Elements {
				cmds = append(cmds, c.B().Unlink().Key(k).Build())
			}
			for _, r := range c.DoMulti(ctx, cmds...) {
				if err := r.Error(); err != nil {
					tb.Fatalf("UNLINK: %v", err)
				}
			}
			if cursor = e.Cursor; cursor == 0 {
				break
			}
		}
	}
	// A Cluster's replicas apply the deletions a little later.
	for wait := 0; ; wait++ {
		left := keys(tb, c, prefix)
		if len(left) == 0 {
			return
		}
		if wait == 100 {
			tb.Fatalf("%d keys left under %s", len(left), prefix)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func usedMemory(tb testing.TB, c rueidis.Client) string {
	info, err := c.Do(context.Background(), c.B().Info().Section("memory").Build()).ToString()
	if err != nil {
		tb.Fatalf("INFO memory = %v", err)
	}
	for line := range strings.Lines(info) {
		if v, ok := strings.CutPrefix(line, "used_memory_human:"); ok {
			return strings.TrimSpace(v)
		}
	}
	return "?"
}
