package redisstore_test

// Run once, with a Redis that has a GB to spare:
//
//	SESSIOND_TEST_REDIS_URL=redis://127.0.0.1:6379/0 go test -run x -bench RevokeMatchingAcrossNetwork -benchtime 1x ./redisstore/

import (
	"context"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/redis/rueidis"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/internal/delayproxy"
	"github.com/sessiond/sessiond/redisstore"
)

// BenchmarkRevokeMatchingAcrossNetwork measures the kill switch's walk
// (All, NoSubjects, as `sessiond incident revoke --all` calls it) over
// 200,000 sessions with Redis on loopback and behind internal/delayproxy
// at 1 and 5 ms, as a Redis in another zone. First the walk that revokes
// them (revoke-s), then, on the same sessions, walks at later times that
// find none live (every member read, nothing written), alternating the
// walk before walkDepth (two scripts in flight, FixWalkDepth) and after,
// rounds times each: same data, same host load. Besides the times it
// reports the round trips of a session read (HGETALL, as Get) sent back
// to back on a direct connection meanwhile, which waits behind the walk's
// queued scripts, and the walk scripts in Redis's slow log (over 10 ms by
// default).
func BenchmarkRevokeMatchingAcrossNetwork(b *testing.B) {
	const sessions, rounds = 200_000, 2
	for _, rtt := range []time.Duration{0, time.Millisecond, 5 * time.Millisecond} {
		b.Run("rtt="+rtt.String(), func(b *testing.B) {
			for b.Loop() {
				revokeAcrossNetwork(b, sessions, rounds, rtt)
			}
		})
	}
}

func revokeAcrossNetwork(b *testing.B, n, rounds int, rtt time.Duration) {
	b.StopTimer()
	defer b.StartTimer() // last: b.Loop wants the timer running
	ctx := context.Background()
	raw := rawClient(b)
	prefix := randomPrefix()
	defer unlinkAll(b, raw, prefix)
	probe := bulkLoad(b, raw, prefix, n, n)
	addr := redisURL(b)
	if rtt > 0 {
		u, err := url.Parse(addr)
		if err != nil {
			b.Fatal(err)
		}
		p, err := delayproxy.Start("127.0.0.1:0", u.Host, delayproxy.Options{RTT: rtt})
		if err != nil {
			b.Fatal(err)
		}
		defer p.Close()
		u.Host = p.Addr()
		addr = u.String()
	}
	st, err := redisstore.New(ctx, addr, redisstore.Options{Prefix: prefix})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	key := prefix + ":{" + tagOf(benchSubject(n/2)) + "}:s:" + string(probe)
	at := benchNow
	walk := func(depth, want int, name string) {
		redisstore.FixWalkDepth(st, depth)
		slowFrom := lastSlowID(b, raw)
		stop := redisProbe(b, raw, "HGETALL", func() rueidis.Completed { return raw.B().Hgetall().Key(key).Build() })
		f := sessiond.RevokeFilter{All: true, IssuedBefore: at.Add(time.Microsecond), NoSubjects: true}
		start := time.Now()
		got, _, err := st.RevokeMatching(ctx, f, at, sessiond.ReasonIncident)
		took := time.Since(start)
		reads := stop()
		if err != nil || got != want {
			b.Fatalf("RevokeMatching(%+v) = %d, %v; want %d", f, got, err, want)
		}
		slices.Sort(reads)
		q := func(x float64) time.Duration { return reads[int(x*float64(len(reads)-1))] }
		b.Logf("%s: %v (%.2f s a million); get p50 %v p99 %v max %v; %d walk scripts over the slow log's bound",
			name, took.Round(time.Millisecond), took.Seconds()*1e6/float64(n), q(0.5), q(0.99), q(1), slowWalkScripts(b, raw, slowFrom, prefix))
		at = at.Add(time.Microsecond) // a new walk, not the last one resumed
	}
	b.StartTimer()
	walk(0, n, "revoke")
	b.StopTimer()
	for range rounds {
		walk(2, 0, "walk, 2 in flight")
		walk(0, 0, "walk, walkDepth")
	}
}

// lastSlowID is the ID of the newest slow-log entry, -1 if none.
func lastSlowID(b *testing.B, c rueidis.Client) int64 {
	b.Helper()
	e, err := c.Do(context.Background(), c.B().Arbitrary("SLOWLOG", "GET", "1").Build()).ToArray()
	if err != nil {
		b.Fatalf("SLOWLOG GET = %v", err)
	}
	if len(e) == 0 {
		return -1
	}
	f, err := e[0].ToArray()
	if err != nil || len(f) == 0 {
		b.Fatalf("SLOWLOG GET entry = %v", err)
	}
	id, _ := f[0].AsInt64()
	return id
}

// slowWalkScripts counts the slow-log entries after from that are scripts
// (EVALSHA, EVAL) naming prefix's keys. The slow log keeps 128 entries by
// default: a walk with more slow scripts than that counts 128.
func slowWalkScripts(b *testing.B, c rueidis.Client, from int64, prefix string) int {
	b.Helper()
	e, err := c.Do(context.Background(), c.B().Arbitrary("SLOWLOG", "GET", "-1").Build()).ToArray()
	if err != nil {
		b.Fatalf("SLOWLOG GET = %v", err)
	}
	n := 0
	for _, x := range e {
		f, err := x.ToArray()
		if err != nil || len(f) < 4 {
			continue
		}
		if id, _ := f[0].AsInt64(); id <= from {
			continue
		}
		args, _ := f[3].AsStrSlice()
		if len(args) > 0 && strings.HasPrefix(strings.ToUpper(args[0]), "EVAL") && strings.Contains(strings.Join(args, " "), prefix) {
			n++
		}
	}
	return n
}
