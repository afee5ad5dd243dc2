package redisstore_test

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"testing"
	"time"

	"github.com/redis/rueidis"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/redisstore"
	"github.com/sessiond/sessiond/sessiondtest"

	"github.com/sessiond/sessiond/internal/testenv"
)

// redisURL returns SESSIOND_TEST_REDIS_URL, or skips the test without it
// (fails it when SESSIOND_TEST_REQUIRE=1, as in CI).
func redisURL(tb testing.TB) string {
	tb.Helper()
	return sessiondtest.RequireEnv(tb, "SESSIOND_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// randomPrefix is a key prefix no other test uses.
func randomPrefix() string { return "sdtest-" + randomHex(6) }

// newStore returns a Store on opts (a fresh prefix unless opts names one),
// closed and with its keys deleted when the test ends.
func newStore(tb testing.TB, opts redisstore.Options) *redisstore.Store {
	tb.Helper()
	url := redisURL(tb)
	if opts.Prefix == "" {
		opts.Prefix = randomPrefix()
	}
	st, err := redisstore.New(context.Background(), url, opts)
	if err != nil {
		tb.Fatalf("redisstore.New() = %v; want nil", err)
	}
	tb.Cleanup(func() {
		st.Close()
		wipe(tb, url, opts.Prefix)
	})
	return st
}

// rawClient returns a plain rueidis client on the test Redis.
func rawClient(tb testing.TB) rueidis.Client {
	tb.Helper()
	opt, err := rueidis.ParseURL(redisURL(tb))
	if err != nil {
		tb.Fatalf("ParseURL() = %v", err)
	}
	opt.DisableCache = true
	c, err := rueidis.NewClient(opt)
	if err != nil {
		tb.Fatalf("rueidis.NewClient() = %v", err)
	}
	tb.Cleanup(c.Close)
	return c
}

// singleRedis skips tb when SESSIOND_TEST_REDIS_URL names a Redis Cluster:
// the test checks what only a single Redis does (one script over several
// slots, a proxy in front of one address). TestStore_RedisCluster runs the
// conformance suites on a Cluster.
func singleRedis(tb testing.TB) {
	tb.Helper()
	c := rawClient(tb)
	info, err := c.Do(context.Background(), c.B().Info().Section("cluster").Build()).ToString()
	if err != nil {
		tb.Fatalf("INFO cluster = %v", err)
	}
	if strings.Contains(info, "cluster_enabled:1") {
		tb.Skip("checks a single Redis; SESSIOND_TEST_REDIS_URL names a Redis Cluster")
	}
}

// keys returns every key under prefix, on every node (for a Redis
// Cluster).
func keys(tb testing.TB, c rueidis.Client, prefix string) []string {
	tb.Helper()
	var out []string
	for _, node := range c.Nodes() {
		var cursor uint64
		for {
			e, err := node.Do(context.Background(), node.B().Scan().Cursor(cursor).Match(prefix+":*").Count(1000).Build()).AsScanEntry()
			if err != nil {
				tb.Fatalf("SCAN %s:* = %v", prefix, err)
			}
			out = append(out, e.Elements...)
			if cursor = e.Cursor; cursor == 0 {
				break
			}
		}
	}
	return out
}

// wipe deletes every key under prefix.
func wipe(tb testing.TB, url, prefix string) { testenv.DeleteRedisPrefix(tb, url, prefix+":") }

// The key layout of docs/redisstore.md, for tests that look inside.

func tagOf(subject string) string {
	sum := sha256.Sum256([]byte(subject))
	return hex.EncodeToString(sum[:8])
}

func idxKey(prefix, subject string) string { return prefix + ":{" + tagOf(subject) + "}:idx" }

// globalKey is one of the global indexes: gc, exp or rev.
func globalKey(prefix, name string) string { return prefix + ":{" + prefix + "}:" + name }

func ref(subject string, id sessiond.SessionID) string { return tagOf(subject) + string(id) }

// newSession returns sessiondtest.NewSession last active when created.
func newSession(subject string, created time.Time) *sessiond.Session {
	s := sessiondtest.NewSession(subject, created)
	s.LastActiveAt = created
	return s
}

// newToken is the conformance suite's token constructor.
var newToken = sessiondtest.NewToken

// now is the wall clock in UTC at µs precision: these tests look at TTLs
// Redis applies by its own clock.
func now() time.Time { return time.Now().UTC().Truncate(time.Microsecond) }

// eventually polls cond every 5 ms until it holds or timeout passes.
func eventually(timeout time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	for {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(5 * time.Millisecond)
	}
}
