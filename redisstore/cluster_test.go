package redisstore_test

import (
	"context"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/internal/redisclustertest"
	"github.com/sessiond/sessiond/redisstore"
	"github.com/sessiond/sessiond/sessiondtest"
)

// TestStore_RedisCluster runs the conformance suites on a real Redis
// Cluster (three masters with a replica each, internal/redisclustertest),
// where the store takes its Cluster paths: a change's records kept pending
// in its slot and then moved (so the change-records suites run too), bulk
// revocation batched by slot, the feed on every master. The other tests of
// this package run on one Redis.
func TestStore_RedisCluster(t *testing.T) {
	cluster := redisclustertest.Start(t)
	open := func(t *testing.T, opts redisstore.Options) *redisstore.Store {
		if opts.Prefix == "" {
			opts.Prefix = randomPrefix()
		}
		st, err := redisstore.New(context.Background(), cluster.URL(), opts)
		if err != nil {
			t.Fatalf("redisstore.New(cluster) = %v; want nil", err)
		}
		// The cluster's processes and keys go when the test ends.
		t.Cleanup(func() { st.Close() })
		if !redisstore.OnCluster(st) {
			t.Fatal("the store does not take its Cluster paths on a Redis Cluster")
		}
		return st
	}
	t.Run("Store", func(t *testing.T) {
		sessiondtest.TestStore(t, func(t *testing.T) sessiond.Store { return open(t, redisstore.Options{}) })
	})
	t.Run("WithClientCache", func(t *testing.T) {
		sessiondtest.TestStore(t, func(t *testing.T) sessiond.Store {
			return open(t, redisstore.Options{ClientCache: time.Minute})
		})
	})
	t.Run("PendingRecords", func(t *testing.T) { testPendingRecords(t, open(t, redisstore.Options{})) })
	t.Run("Persistence", func(t *testing.T) {
		// Every node the client knows: the masters, and replicas once it
		// has met them. The test cluster keeps nothing on disk.
		ps, err := open(t, redisstore.Options{}).Persistence(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		for _, port := range cluster.Masters() {
			if !slices.ContainsFunc(ps, func(p redisstore.Persistence) bool { return strings.HasSuffix(p.Addr, ":"+strconv.Itoa(port)) }) {
				t.Errorf("Persistence() = %+v; want master :%d among them", ps, port)
			}
		}
		for _, p := range ps {
			if p.Kept() {
				t.Errorf("Persistence() = %+v; want nothing kept on the test cluster's nodes", p)
			}
		}
	})
	t.Run("RevocationNotifier", func(t *testing.T) {
		sessiondtest.TestRevocationNotifier(t, func(t *testing.T) sessiond.Store { return open(t, redisstore.Options{}) },
			func(t *testing.T, st sessiond.Store) sessiond.Store {
				return open(t, redisstore.Options{Prefix: redisstore.PrefixOf(st.(*redisstore.Store))})
			})
	})
}
