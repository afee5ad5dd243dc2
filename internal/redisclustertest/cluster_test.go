package redisclustertest_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/internal/redisclustertest"
	"github.com/sessiond/sessiond/internal/testenv"
	"github.com/sessiond/sessiond/redisstore"
	"github.com/sessiond/sessiond/sessiondtest"
)

func newStore(t *testing.T, url string, opts redisstore.Options) *redisstore.Store {
	t.Helper()
	if opts.Prefix == "" {
		opts.Prefix = testenv.UniqueName("t")
	}
	st, err := redisstore.New(context.Background(), url, opts)
	if err != nil {
		t.Fatalf("redisstore.New(cluster) = %v", err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// TestRedisCluster runs the whole store conformance suite, and the
// revocation feed suite across two nodes, on a real Redis Cluster of
// three masters with a replica each (issue 18).
func TestRedisCluster(t *testing.T) {
	cluster := redisclustertest.Start(t)
	url := cluster.URL()
	t.Run("Store", func(t *testing.T) {
		sessiondtest.TestStore(t, func(t *testing.T) sessiond.Store { return newStore(t, url, redisstore.Options{}) }, sessiondtest.ReplayByStoreClock())
	})
	t.Run("StoreWithClientCache", func(t *testing.T) {
		sessiondtest.TestStore(t, func(t *testing.T) sessiond.Store {
			return newStore(t, url, redisstore.Options{ClientCache: time.Minute})
		}, sessiondtest.ReplayByStoreClock())
	})
	t.Run("RevocationNotifier", func(t *testing.T) {
		var mu sync.Mutex
		prefixes := map[sessiond.Store]string{}
		sessiondtest.TestRevocationNotifier(t, func(t *testing.T) sessiond.Store {
			prefix := testenv.UniqueName("t")
			st := newStore(t, url, redisstore.Options{Prefix: prefix})
			mu.Lock()
			prefixes[st] = prefix
			mu.Unlock()
			return st
		}, func(t *testing.T, st sessiond.Store) sessiond.Store {
			mu.Lock()
			prefix := prefixes[st]
			mu.Unlock()
			return newStore(t, url, redisstore.Options{Prefix: prefix})
		})
	})
	// Last: it leaves keys on the replicas that their masters lack.
	t.Run("ReplicasLoading", func(t *testing.T) { testReplicasLoading(t, cluster, url) })
}

// testReplicasLoading makes every replica load a dataset slowly, as in a
// full sync, while stores open and ping: a node loading answers LOADING to
// every command, and the store reads and writes masters only, so neither
// may fail (CI saw redisstore.New fail on a replica's first sync).
func testReplicasLoading(t *testing.T, cluster *redisclustertest.Cluster, url string) {
	run := func(port int, args ...string) string {
		t.Helper()
		out, err := cluster.Run(port, args...)
		if err != nil || strings.HasPrefix(out, "ERR") {
			t.Fatalf("redis-cli -p %d %v = %q, %v", port, args, out, err)
		}
		return out
	}
	replicas := cluster.Replicas()
	if len(replicas) != 3 {
		t.Fatalf("replicas = %v, want 3", replicas)
	}
	for _, p := range replicas {
		run(p, "debug", "populate", "4000", "loading")
		// 1 ms a key: 4 s of loading, answering other clients every KB.
		run(p, "config", "set", "key-load-delay", "1000")
		run(p, "config", "set", "loading-process-events-interval-bytes", "1024")
	}
	var wg sync.WaitGroup
	for _, p := range replicas {
		wg.Add(1)
		go func() { defer wg.Done(); _, _ = cluster.Run(p, "debug", "reload") }()
	}
	defer wg.Wait()
	deadline := time.Now().Add(10 * time.Second)
	for _, p := range replicas {
		for {
			out, _ := cluster.Run(p, "ping")
			if strings.HasPrefix(out, "LOADING") {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("replica %d never answered LOADING (last %q)", p, out)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	// Half the nodes are loading: a command sent to any node hits one of
	// them about every other time.
	ctx := context.Background()
	for i := range 10 {
		st := newStore(t, url, redisstore.Options{})
		for j := range 3 {
			if err := st.Ping(ctx); err != nil {
				t.Fatalf("store %d, Ping %d while replicas load: %v", i, j, err)
			}
		}
	}
	// The feed subscribes, and PublishMeta publishes, through any node:
	// both are served while loading, and must stay so.
	st := newStore(t, url, redisstore.Options{})
	got := make(chan string, 10)
	if err := st.SubscribeFeed(ctx, sessiond.Feed{MetaChanged: func(name string) { got <- name }}); err != nil {
		t.Fatalf("SubscribeFeed while replicas load: %v", err)
	}
	for i := range 5 {
		if err := st.PublishMeta(ctx, "loading-check"); err != nil {
			t.Fatalf("PublishMeta %d while replicas load: %v", i, err)
		}
		select {
		case name := <-got:
			if name != "loading-check" {
				t.Fatalf("feed delivered %q, want loading-check", name)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("PublishMeta %d not delivered while replicas load", i)
		}
	}
	for _, p := range replicas {
		if out, _ := cluster.Run(p, "ping"); !strings.HasPrefix(out, "LOADING") {
			t.Fatalf("replica %d answered %q: loading ended before the check did; the check proved nothing", p, out)
		}
	}
}
