package testenv

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/rueidis"
)

// DeleteRedisPrefix removes every key under prefix from the Redis at url,
// so test runs do not leave keys behind in the shared server. It only logs
// what goes wrong: it is cleanup.
func DeleteRedisPrefix(tb testing.TB, url, prefix string) {
	opt, err := rueidis.ParseURL(url)
	if err != nil {
		return
	}
	opt.DisableCache = true
	c, err := rueidis.NewClient(opt)
	if err != nil {
		tb.Logf("cleaning Redis prefix %s: %v", prefix, err)
		return
	}
	defer c.Close()
	ctx := context.Background()
	for _, node := range c.Nodes() { // every node of a Redis Cluster
		var cursor uint64
		for {
			e, err := node.Do(ctx, node.B().Scan().Cursor(cursor).Match(prefix+"*").Count(1000).Build()).AsScanEntry()
			if err != nil {
				tb.Logf("cleaning Redis prefix %s: %v", prefix, err)
				break
			}
			// One pipelined UNLINK per key: a Cluster refuses one over
			// several slots, and a round trip per key took minutes after a
			// benchmark's million keys.
			cmds := make(rueidis.Commands, 0, len(e.Elements))
			for _, k := range e.Elements {
				cmds = append(cmds, c.B().Unlink().Key(k).Build())
			}
			c.DoMulti(ctx, cmds...)
			if cursor = e.Cursor; cursor == 0 {
				break
			}
		}
	}
}

// RedisCPU returns the CPU time the Redis that c talks to has used, user
// and system (INFO cpu), for a benchmark to report Redis's own cost beside
// its own. It counts every client of that Redis, so run such benchmarks on
// a Redis nothing else uses.
func RedisCPU(tb testing.TB, c rueidis.Client) time.Duration {
	tb.Helper()
	info, err := c.Do(context.Background(), c.B().Info().Section("cpu").Build()).ToString()
	if err != nil {
		tb.Fatal(err)
	}
	var total float64
	for line := range strings.SplitSeq(info, "\r\n") {
		k, v, ok := strings.Cut(line, ":")
		if ok && (k == "used_cpu_user" || k == "used_cpu_sys") {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				tb.Fatal(err)
			}
			total += f
		}
	}
	return time.Duration(total * float64(time.Second))
}
