package redisclustertest_test

import (
	"context"
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
		sessiondtest.TestStore(t, func(t *testing.T) sessiond.Store { return newStore(t, url, redisstore.Options{}) })
	})
	t.Run("StoreWithClientCache", func(t *testing.T) {
		sessiondtest.TestStore(t, func(t *testing.T) sessiond.Store {
			return newStore(t, url, redisstore.Options{ClientCache: time.Minute})
		})
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
}
