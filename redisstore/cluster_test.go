package redisstore_test

import (
	"context"
	"errors"
	"fmt"
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
		sessiondtest.TestStore(t, func(t *testing.T) sessiond.Store { return open(t, redisstore.Options{}) }, sessiondtest.ReplayByStoreClock())
	})
	t.Run("WithClientCache", func(t *testing.T) {
		sessiondtest.TestStore(t, func(t *testing.T) sessiond.Store {
			return open(t, redisstore.Options{ClientCache: time.Minute})
		}, sessiondtest.ReplayByStoreClock())
	})
	t.Run("PendingRecords", func(t *testing.T) { testPendingRecords(t, open(t, redisstore.Options{})) })
	t.Run("KeySlot", func(t *testing.T) {
		// A shared document's change keeps its records pending in the
		// slot computed here; Redis refuses the script (CROSSSLOT) when
		// that is not the document key's slot, and the sweep would look
		// for them elsewhere.
		node := cluster.Masters()[0]
		for _, key := range []string{
			"sessiond:meta:api_keys", "", "{", "}", "{}", "}{", "{}x", "x{}", "{}{a}", "a{b", "a}b{c}",
			"{a}", "{a}b", "b{a}", "x{a}{b}", "x{{a}}", "x{a{b}c}", "x{}{a}", "{user1000}.following",
			"sess:{t\u00e9}:meta", "p:{p1}:pending", "p:meta:{name}",
		} {
			out, err := cluster.Run(node, "cluster", "keyslot", key)
			if err != nil {
				t.Fatalf("CLUSTER KEYSLOT %q: %v", key, err)
			}
			want, err := strconv.Atoi(out)
			if err != nil {
				t.Fatalf("CLUSTER KEYSLOT %q = %q", key, out)
			}
			if got := redisstore.SlotOfKey(key); got != want {
				t.Errorf("SlotOfKey(%q) = %d; want %d (CLUSTER KEYSLOT)", key, got, want)
			}
		}
	})
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
	t.Run("KillSwitchSubjects", func(t *testing.T) { testKillSwitchSubjectsBounded(t, open(t, redisstore.Options{})) })
	t.Run("KillSwitchSubjectsTakeTurns", func(t *testing.T) { testKillSwitchSubjectsTakeTurns(t, open(t, redisstore.Options{})) })
	t.Run("RevokeSubjectRecordCut", func(t *testing.T) { testRevokeSubjectRecordCut(t, open(t, redisstore.Options{})) })
	// Last: it leaves every master out of memory.
	t.Run("OutOfMemory", func(t *testing.T) { testClusterOutOfMemory(t, cluster, open) })
}

// testClusterOutOfMemory: on a real Cluster whose masters are all out of
// memory, the scripts flagged allow-oom run as on one Redis: a script
// with flags may touch the keys of one slot only (Redis checks it on a
// Cluster alone, for declared and undeclared keys), and each of these
// stays in its slot. Revocations, touches, listings, a cache miss and the
// collection work; a login is refused. Memory reads every master.
func testClusterOutOfMemory(t *testing.T, cluster *redisclustertest.Cluster, open func(*testing.T, redisstore.Options) *redisstore.Store) {
	st := open(t, redisstore.Options{})
	cached := open(t, redisstore.Options{Prefix: redisstore.PrefixOf(st), ClientCache: time.Minute})
	ctx := t.Context()
	t0 := now()
	subjects := []string{"alice", "bob", "carol", "dave", "erin", "frank"} // several slots
	var all []*sessiond.Session
	var toks []sessiond.Token
	for _, sub := range subjects {
		for range 2 {
			s := newSession(sub, t0)
			tok := newToken(sessiond.KindAccess, s.ID, t0)
			if err := st.Create(ctx, s, tok); err != nil {
				t.Fatal(err)
			}
			all, toks = append(all, s), append(toks, tok)
		}
	}
	for _, port := range cluster.Masters() {
		outOfMemory(t, rawOn(t, strconv.Itoa(port)))
	}
	t1 := t0.Add(time.Minute)
	if err := st.Create(ctx, newSession("grace", t1)); !errors.Is(err, sessiond.ErrStoreUnavailable) {
		t.Fatalf("Create at OOM = %v; want ErrStoreUnavailable (the masters are not out of memory)", err)
	}
	revoked := func(id sessiond.SessionID) error {
		if s, err := st.Get(ctx, id); err != nil || !s.Revoked() {
			return fmt.Errorf("session %s not revoked (%v)", id, err)
		}
		return nil
	}
	for _, c := range []struct {
		name string
		run  func() error
	}{
		{"Lookup with ClientCache", func() error { _, _, err := cached.Lookup(ctx, toks[1].Hash); return err }},
		{"List", func() error { _, err := st.List(ctx, "bob", t0); return err }},
		{"Touch", func() error { return st.Touch(ctx, all[3].ID, t1, t1.Add(time.Hour)) }},
		{"Revoke", func() error {
			if _, err := st.Revoke(ctx, all[0].ID, t1, sessiond.ReasonLogout); err != nil {
				return err
			}
			return revoked(all[0].ID)
		}},
		{"RevokeSubject", func() error {
			if _, err := st.RevokeSubject(ctx, "carol", "", t1, sessiond.ReasonAdmin); err != nil {
				return err
			}
			return revoked(all[4].ID)
		}},
		{"RevokeMatching subjects", func() error {
			if _, _, err := st.RevokeMatching(ctx, sessiond.RevokeFilter{Subjects: []string{"dave", "erin"}}, t1, sessiond.ReasonIncident); err != nil {
				return err
			}
			return revoked(all[8].ID)
		}},
		{"RevokeMatching all", func() error {
			if _, _, err := st.RevokeMatching(ctx, sessiond.RevokeFilter{All: true}, t1, sessiond.ReasonIncident); err != nil {
				return err
			}
			return revoked(all[11].ID)
		}},
		{"DeleteExpired", func() error { _, err := st.DeleteExpired(ctx, t1.Add(time.Hour), 100); return err }},
	} {
		if err := c.run(); err != nil {
			t.Errorf("%s on a Cluster at OOM = %v; want it to work", c.name, err)
		}
	}
	mem, err := st.Memory(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, port := range cluster.Masters() {
		i := slices.IndexFunc(mem, func(m redisstore.Memory) bool { return strings.HasSuffix(m.Addr, ":"+strconv.Itoa(port)) })
		if i < 0 || mem[i].MaxMemory == 0 || mem[i].Policy != "noeviction" || mem[i].Evicts() {
			t.Errorf("Memory() = %+v; want master :%d with its maxmemory, noeviction", mem, port)
		}
	}
}
