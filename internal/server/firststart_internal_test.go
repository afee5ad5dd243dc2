package server

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/internal/apikey"
	"github.com/sessiond/sessiond/internal/config"
	"github.com/sessiond/sessiond/internal/testenv"
	"github.com/sessiond/sessiond/memstore"
	"github.com/sessiond/sessiond/pgstore"
	"github.com/sessiond/sessiond/redisstore"
	"github.com/sessiond/sessiond/sessiondtest"
)

// firstStartStores are the stores several nodes share on their first
// start: memory (the compare-and-swap logic alone), PostgreSQL and Redis
// (skipped without their test URLs, failing under SESSIOND_TEST_REQUIRE=1).
func firstStartStores(t *testing.T) []struct {
	name string
	open func(t *testing.T) sessiond.MetaStore
} {
	pg := sessiondtest.RequireEnv(t, "SESSIOND_TEST_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/test?sslmode=disable")
	rd := sessiondtest.RequireEnv(t, "SESSIOND_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
	return []struct {
		name string
		open func(t *testing.T) sessiond.MetaStore
	}{
		{"memory", func(*testing.T) sessiond.MetaStore { return memstore.New() }},
		{"postgres", func(t *testing.T) sessiond.MetaStore {
			st, err := pgstore.New(context.Background(), pg, pgstore.Options{Schema: testenv.PostgresSchema(t, pg, "firststart")})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = st.Close() })
			return st
		}},
		{"redis", func(t *testing.T) sessiond.MetaStore {
			prefix := testenv.UniqueName("firststart")
			st, err := redisstore.New(context.Background(), rd, redisstore.Options{Prefix: prefix})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { st.Close(); testenv.DeleteRedisPrefix(t, rd, prefix) })
			return st
		}},
	}
}

// seedFirstMeta is a MetaStore on which another node runs its whole first
// start (before) between this node's read of the key set and its first
// write of it: the window a List-then-Create seed leaves open.
type seedFirstMeta struct {
	sessiond.MetaStore
	once   sync.Once
	before func(ctx context.Context)
}

func (m *seedFirstMeta) PutMeta(ctx context.Context, name string, value []byte, version int64) (int64, error) {
	if name == apikey.DocName {
		m.once.Do(func() { m.before(ctx) })
	}
	return m.MetaStore.PutMeta(ctx, name, value, version)
}

// firstStartNode is one node's first start without SESSIOND_API_KEY: its
// key set on meta and its own data directory.
type firstStartNode struct {
	cfg  config.Config
	keys *apikey.Keys
	res  seeded
	err  error
}

func newFirstStartNode(t *testing.T, meta sessiond.MetaStore) *firstStartNode {
	cfg := config.Default()
	cfg.Server.DataDir = t.TempDir()
	return &firstStartNode{cfg: cfg, keys: apikey.New(meta, nil, time.Second)}
}

func (n *firstStartNode) seed(ctx context.Context) { n.res, n.err = seedAPIKey(ctx, n.cfg, "", n.keys) }

// TestSeedAPIKey_NodesStartingTogether: nodes starting together on an
// empty shared store, none given SESSIOND_API_KEY, make one generated
// admin key between them, written to one node's <data>/api-key; each
// other node makes none, writes no key file, and learns which key exists
// (to say so in its log). Before, each made and wrote its own: as many
// admin keys as nodes, each in one node's data directory.
func TestSeedAPIKey_NodesStartingTogether(t *testing.T) {
	for _, st := range firstStartStores(t) {
		t.Run(st.name, func(t *testing.T) {
			t.Run("another node seeds between the read and the write", func(t *testing.T) {
				meta := st.open(t)
				other := newFirstStartNode(t, meta)
				race := &seedFirstMeta{MetaStore: meta, before: other.seed}
				node := newFirstStartNode(t, race)
				node.seed(t.Context())
				checkOneSeeded(t, meta, []*firstStartNode{other, node}, true)
			})
			t.Run("four nodes at once", func(t *testing.T) {
				meta := st.open(t)
				nodes := make([]*firstStartNode, 4)
				for i := range nodes {
					nodes[i] = newFirstStartNode(t, meta)
				}
				start := make(chan struct{})
				var wg sync.WaitGroup
				for _, n := range nodes {
					wg.Go(func() {
						<-start
						n.seed(t.Context())
					})
				}
				close(start)
				wg.Wait()
				// A node that read the set after another seeded it is a
				// restart's case: told of nothing.
				checkOneSeeded(t, meta, nodes, false)
			})
		})
	}
}

// checkOneSeeded checks that the store holds one live key, that exactly one
// of nodes wrote it to its key file, and that each other node wrote none
// and, with told, was told of that key.
func checkOneSeeded(t *testing.T, meta sessiond.MetaStore, nodes []*firstStartNode, told bool) {
	t.Helper()
	list, err := apikey.New(meta, nil, time.Second).List(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	var live []apikey.Key
	for _, k := range list {
		if k.RevokedAt.IsZero() {
			live = append(live, k)
		}
	}
	if len(live) != 1 {
		t.Fatalf("live keys after %d nodes started together = %d (%+v); want 1", len(nodes), len(live), live)
	}
	files := 0
	for i, n := range nodes {
		if n.err != nil {
			t.Errorf("node %d: seedAPIKey = %v; want nil", i, n.err)
			continue
		}
		raw, err := os.ReadFile(filepath.Join(n.cfg.Server.DataDir, APIKeyFile))
		switch {
		case err == nil:
			files++
			if n.res.file == "" {
				t.Errorf("node %d wrote a key file but did not say so", i)
			}
			got, err := n.keys.Authenticate(t.Context(), sessiond.Secret(strings.TrimSpace(string(raw))))
			if err != nil || got.ID != live[0].ID {
				t.Errorf("node %d: its key file holds key %q, %v; want the live key %s", i, got.ID, err, live[0].ID)
			}
		case os.IsNotExist(err):
			if n.res.file != "" {
				t.Errorf("node %d says it wrote %s, which is not there", i, n.res.file)
			}
			if told && (n.res.other == nil || n.res.other.ID != live[0].ID) || n.res.other != nil && n.res.other.ID != live[0].ID {
				t.Errorf("node %d made no key and was told of %+v; want the live key %s", i, n.res.other, live[0].ID)
			}
		default:
			t.Fatal(err)
		}
	}
	if files != 1 {
		t.Errorf("nodes that wrote a key file = %d; want 1", files)
	}
}

// TestBootstrapAPIKey_AnotherNodeSeeded: a node whose first start lost the
// seed to another node's says so at WARN, naming the key that exists (its
// ID, never a secret) and how to get one, and writes no key file; the node
// that seeded logs the usual line.
func TestBootstrapAPIKey_AnotherNodeSeeded(t *testing.T) {
	meta := memstore.New()
	other := newFirstStartNode(t, meta)
	var otherLogs bytes.Buffer
	race := &seedFirstMeta{MetaStore: meta, before: func(ctx context.Context) {
		other.err = bootstrapAPIKey(ctx, other.cfg, "", other.keys, slog.New(slog.NewTextHandler(&otherLogs, nil)))
	}}
	node := newFirstStartNode(t, race)
	var logs bytes.Buffer
	if err := bootstrapAPIKey(t.Context(), node.cfg, "", node.keys, slog.New(slog.NewTextHandler(&logs, nil))); err != nil {
		t.Fatalf("bootstrapAPIKey on the node that lost the seed = %v; want nil", err)
	}
	if other.err != nil {
		t.Fatalf("bootstrapAPIKey on the node that seeded = %v; want nil", other.err)
	}
	if !strings.Contains(otherLogs.String(), "generated the first API key;") {
		t.Errorf("the node that seeded logged:\n%s\nwant `generated the first API key`", otherLogs.String())
	}
	list, err := other.keys.List(t.Context())
	if err != nil || len(list) != 1 {
		t.Fatalf("keys = %+v, %v; want one", list, err)
	}
	out := logs.String()
	for _, want := range []string{"level=WARN", "another node generated the first API key", "id=" + list[0].ID, "sessiond apikey create"} {
		if !strings.Contains(out, want) {
			t.Errorf("the log of the node that lost the seed lacks %q:\n%s", want, out)
		}
	}
	if _, err := os.Stat(filepath.Join(node.cfg.Server.DataDir, APIKeyFile)); !os.IsNotExist(err) {
		t.Errorf("the node that lost the seed has a key file (%v); want none", err)
	}
}
