package server

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
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
	"github.com/sessiond/sessiond/sqlitestore"
)

// firstStartStores are the stores several nodes share on their first
// start: memory (the compare-and-swap logic alone), SQLite (one process,
// but its writes can fail as any store's), PostgreSQL and Redis (skipped
// without their test URLs, failing under SESSIOND_TEST_REQUIRE=1).
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
		{"sqlite", func(t *testing.T) sessiond.MetaStore {
			st, err := sqlitestore.New(context.Background(), filepath.Join(t.TempDir(), "sessiond.db"), sqlitestore.Options{})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = st.Close() })
			return st
		}},
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
			t.Run("two nodes sharing one data directory", func(t *testing.T) {
				// Both write <data>/api-key: the one that lost the seed
				// must leave the winner's key there, neither overwritten
				// nor removed.
				meta := st.open(t)
				other := newFirstStartNode(t, meta)
				race := &seedFirstMeta{MetaStore: meta, before: other.seed}
				node := newFirstStartNode(t, race)
				node.cfg.Server.DataDir = other.cfg.Server.DataDir
				node.seed(t.Context())
				if node.err != nil || other.err != nil {
					t.Fatalf("seedAPIKey = %v, %v; want nil, nil", node.err, other.err)
				}
				checkHeld(t, meta, filepath.Join(node.cfg.Server.DataDir, APIKeyFile), true)
			})
			t.Run("the node that lost keeps its earlier key file", func(t *testing.T) {
				// A store that lost its data (apiKeysReset): the file of
				// the key it held is this node's to keep when it makes
				// none (the store may come back with that key).
				meta := st.open(t)
				other := newFirstStartNode(t, meta)
				race := &seedFirstMeta{MetaStore: meta, before: other.seed}
				node := newFirstStartNode(t, race)
				path := filepath.Join(node.cfg.Server.DataDir, APIKeyFile)
				const earlier = "sdak_an_earlier_key\n"
				if err := os.WriteFile(path, []byte(earlier), 0o600); err != nil {
					t.Fatal(err)
				}
				node.seed(t.Context())
				if node.err != nil || node.res.other == nil {
					t.Fatalf("seedAPIKey = %+v, %v; want another node's key, nil", node.res, node.err)
				}
				if raw, err := os.ReadFile(path); err != nil || string(raw) != earlier {
					t.Errorf("the earlier key file after losing the seed = %q, %v; want it as it was", raw, err)
				}
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
	live := liveKeys(t, meta)
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

// seedFailMeta fails the writes of the key set as a store that times out
// does, the first one or (down) every one: stored all the same (lands: the
// answer was lost), not stored, or held to land later (later: a statement
// still running past the client that gave up).
type seedFailMeta struct {
	sessiond.MetaStore
	lands, down bool
	hold        bool
	mu          sync.Mutex
	writes      int
	later       func(context.Context)
}

func (m *seedFailMeta) PutMeta(ctx context.Context, name string, value []byte, version int64) (int64, error) {
	if name != apikey.DocName {
		return m.MetaStore.PutMeta(ctx, name, value, version)
	}
	m.mu.Lock()
	m.writes++
	first := m.writes == 1
	m.mu.Unlock()
	if !first && !m.down {
		return m.MetaStore.PutMeta(ctx, name, value, version)
	}
	switch {
	case first && m.lands:
		if _, err := m.MetaStore.PutMeta(ctx, name, value, version); err != nil {
			return 0, err
		}
	case first && m.hold:
		value = bytes.Clone(value)
		m.later = func(ctx context.Context) { _, _ = m.MetaStore.PutMeta(ctx, name, value, version) }
	}
	return 0, fmt.Errorf("put meta %s: %w", name, context.DeadlineExceeded)
}

// TestSeedAPIKey_SeedFails: a first start whose key file cannot be written,
// or whose write of the generated key times out (stored or not, or landing
// later), leaves no live key that nobody holds: every live key is the one in
// <data>/api-key, then and after the next start (the data directory mended,
// the store answering), which ends with exactly one. Before, the key was
// stored first and the file written after: a file that could not be
// written, or a write whose answer was lost, left a live admin key in no
// file, and the next start, finding a live key, made none (only `sessiond
// apikey create` recovered).
func TestSeedAPIKey_SeedFails(t *testing.T) {
	cases := []struct {
		name       string
		unwritable bool // <data>/api-key cannot be written (a directory there)
		// as seedFailMeta's
		lands, down, hold bool
		// settled: the second write is answered, and the first start ends
		// with its key stored and in the file
		settled bool
	}{
		{name: "key file cannot be written", unwritable: true},
		{name: "write stored, answer lost", lands: true, settled: true},
		{name: "write not stored", settled: true},
		{name: "write lands later", hold: true, settled: true},
		// The second try reads the key landed and writes nothing.
		{name: "write stored, then the store refusing writes", lands: true, down: true, settled: true},
		{name: "store down", down: true},
	}
	for _, st := range firstStartStores(t) {
		for _, tc := range cases {
			t.Run(st.name+"/"+tc.name, func(t *testing.T) {
				ctx := t.Context()
				meta := st.open(t)
				cfg := config.Default()
				cfg.Server.DataDir = t.TempDir()
				path := filepath.Join(cfg.Server.DataDir, APIKeyFile)
				fail := &seedFailMeta{MetaStore: meta, lands: tc.lands, down: tc.down, hold: tc.hold}
				first := &firstStartNode{cfg: cfg, keys: apikey.New(fail, nil, time.Second)}
				if tc.unwritable {
					if err := os.Mkdir(path, 0o700); err != nil {
						t.Fatal(err)
					}
					first.keys = apikey.New(meta, nil, time.Second)
				}
				first.seed(ctx)
				if tc.unwritable {
					if first.err == nil || !strings.Contains(first.err.Error(), path) {
						t.Errorf("seedAPIKey with an unwritable key file = %v; want an error naming %s", first.err, path)
					}
					if live := liveKeys(t, meta); len(live) != 0 {
						t.Errorf("live keys after a first start that could not write its key file = %d; want none", len(live))
					}
					if err := os.Remove(path); err != nil { // the operator mends it
						t.Fatal(err)
					}
				}
				switch {
				case tc.settled && first.err != nil:
					t.Errorf("seedAPIKey whose second write was answered = %v; want nil", first.err)
				case !tc.settled && !tc.unwritable && (first.err == nil || !strings.Contains(first.err.Error(), path)):
					t.Errorf("seedAPIKey with the store down = %v; want an error naming %s, which holds the key", first.err, path)
				}
				checkHeld(t, meta, path, first.err == nil)
				if fail.later != nil {
					fail.later(ctx)
				}
				again := &firstStartNode{cfg: cfg, keys: apikey.New(meta, nil, time.Second)}
				again.seed(ctx)
				if again.err != nil {
					t.Fatalf("seedAPIKey at the next start = %v; want nil", again.err)
				}
				checkHeld(t, meta, path, true)
			})
		}
	}
}

// liveKeys returns the live keys meta holds.
func liveKeys(t *testing.T, meta sessiond.MetaStore) []apikey.Key {
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
	return live
}

// checkHeld checks that every live key meta holds is the key in the file
// at path (none held: no live key) and, with one, that there is one.
func checkHeld(t *testing.T, meta sessiond.MetaStore, path string, one bool) {
	t.Helper()
	if left, _ := filepath.Glob(path + ".new-*"); len(left) != 0 {
		t.Errorf("files left beside %s: %v; want none", path, left)
	}
	live := liveKeys(t, meta)
	if one && len(live) != 1 {
		t.Fatalf("live keys = %d (%+v); want 1", len(live), live)
	}
	if len(live) == 0 {
		return
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%d live key(s) (%s…), and the key file: %v; want it to hold the live key", len(live), live[0].ID, err)
	}
	got, err := apikey.New(meta, nil, time.Second).Authenticate(t.Context(), sessiond.Secret(strings.TrimSpace(string(raw))))
	if err != nil {
		t.Fatalf("the key file's key: %v; want the live key %s", err, live[0].ID)
	}
	for _, k := range live {
		if k.ID != got.ID {
			t.Errorf("live key %s is in no key file (the file holds %s)", k.ID, got.ID)
		}
	}
}

// TestBootstrapAPIKey_KeyAddedMeanwhile: a node without SESSIOND_API_KEY
// whose first start finds a key that no node generated (a node given
// SESSIOND_API_KEY, or an operator's `sessiond apikey create`, won the
// race) says so, naming that key by id and name, and does not send the
// operator to a key file no node wrote.
func TestBootstrapAPIKey_KeyAddedMeanwhile(t *testing.T) {
	cases := []struct {
		name string
		add  func(ctx context.Context, keys *apikey.Keys) error
	}{
		{"a node with SESSIOND_API_KEY", func(ctx context.Context, keys *apikey.Keys) error {
			_, err := keys.Ensure(ctx, "env", "an-operator-chosen-key-of-at-least-32-chars")
			return err
		}},
		{"an operator's apikey create", func(ctx context.Context, keys *apikey.Keys) error {
			_, _, err := keys.Create(ctx, "deploy", apikey.ScopeAdmin)
			return err
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			meta := memstore.New()
			other := apikey.New(meta, nil, time.Second)
			var addErr error
			race := &seedFirstMeta{MetaStore: meta, before: func(ctx context.Context) { addErr = tc.add(ctx, other) }}
			node := newFirstStartNode(t, race)
			var logs bytes.Buffer
			if err := bootstrapAPIKey(t.Context(), node.cfg, "", node.keys, slog.New(slog.NewTextHandler(&logs, nil))); err != nil || addErr != nil {
				t.Fatalf("bootstrapAPIKey = %v (the key added meanwhile: %v); want nil", err, addErr)
			}
			list, err := other.List(t.Context())
			if err != nil || len(list) != 1 {
				t.Fatalf("keys = %+v, %v; want one", list, err)
			}
			out := logs.String()
			for _, want := range []string{"level=WARN", "was added to the store while this node started", "id=" + list[0].ID, "name=" + list[0].Name, "sessiond apikey create"} {
				if !strings.Contains(out, want) {
					t.Errorf("the log lacks %q:\n%s", want, out)
				}
			}
			if strings.Contains(out, "generated") || strings.Contains(out, "api-key") {
				t.Errorf("the log says a node generated the key, or points to a key file:\n%s", out)
			}
		})
	}
}

// TestAPIKeysReset_KeyAddedMeanwhile: after a store lost its data, a node
// without SESSIOND_API_KEY that finds a key no node generated (a node with
// SESSIOND_API_KEY put it back first) says so in its `recreated`, by id
// and name, not that another node seeded it.
func TestAPIKeysReset_KeyAddedMeanwhile(t *testing.T) {
	meta := memstore.New()
	other := apikey.New(meta, nil, time.Second)
	var addErr error
	race := &seedFirstMeta{MetaStore: meta, before: func(ctx context.Context) {
		_, addErr = other.Ensure(ctx, "env", "an-operator-chosen-key-of-at-least-32-chars")
	}}
	node := newFirstStartNode(t, race)
	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	reset := apiKeysReset(node.cfg, "", node.keys, nil, nil, &fanout{slog: log}, log)
	if err := reset(t.Context(), apikey.Reset{}); err != nil || addErr != nil {
		t.Fatalf("apiKeysReset = %v (the key added meanwhile: %v); want nil", err, addErr)
	}
	list, err := other.List(t.Context())
	if err != nil || len(list) != 1 {
		t.Fatalf("keys = %+v, %v; want one", list, err)
	}
	out := logs.String()
	if want := fmt.Sprintf("%s (\\\"env\\\") was added meanwhile", list[0].ID); !strings.Contains(out, want) || strings.Contains(out, "another node seeded") {
		t.Errorf("the log:\n%s\nwant recreated naming %s, not another node's seed", out, want)
	}
}

// seedBreakMeta breaks the first start between its read of the empty key
// set and its write: the store refuses the read the write starts with
// (down, or the start stopped: its context cancelled), or the write
// panics (a driver's bug), before or after it stored the key.
type seedBreakMeta struct {
	sessiond.MetaStore
	reads  int
	refuse error // the second read of the key set fails with it
	cancel context.CancelFunc
	panics bool // the write of the key set panics
	stores bool // after storing
}

func (m *seedBreakMeta) GetMeta(ctx context.Context, name string) ([]byte, int64, error) {
	if name == apikey.DocName {
		if m.reads++; m.reads == 2 && m.refuse != nil {
			if m.cancel != nil {
				m.cancel()
			}
			return nil, 0, m.refuse
		}
	}
	return m.MetaStore.GetMeta(ctx, name)
}

func (m *seedBreakMeta) PutMeta(ctx context.Context, name string, value []byte, version int64) (int64, error) {
	if name == apikey.DocName && m.panics {
		if m.stores {
			if _, err := m.MetaStore.PutMeta(ctx, name, value, version); err != nil {
				return 0, err
			}
		}
		panic("a store driver's bug")
	}
	return m.MetaStore.PutMeta(ctx, name, value, version)
}

// TestSeedAPIKey_BrokenOff: a first start broken off after its key file
// was written (the store refusing, the start stopped, a panic in the
// store's write) leaves no api-key.new-* file behind, and a key the store
// took is in <data>/api-key.
func TestSeedAPIKey_BrokenOff(t *testing.T) {
	cases := []struct {
		name           string
		refuse         error
		cancel         bool
		panics, stores bool
	}{
		{name: "store refuses", refuse: errors.New("connection refused")},
		{name: "start stopped", refuse: context.Canceled, cancel: true},
		{name: "write panics", panics: true},
		{name: "write stored, then panics", panics: true, stores: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			meta := memstore.New()
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			broken := &seedBreakMeta{MetaStore: meta, refuse: tc.refuse, panics: tc.panics, stores: tc.stores}
			if tc.cancel {
				broken.cancel = cancel
			}
			node := newFirstStartNode(t, broken)
			var panicked any
			func() {
				defer func() { panicked = recover() }()
				node.seed(ctx)
			}()
			if (panicked != nil) != tc.panics || (!tc.panics && node.err == nil) {
				t.Fatalf("seedAPIKey = %v (panic: %v); want an error, or the store's panic", node.err, panicked)
			}
			checkHeld(t, meta, filepath.Join(node.cfg.Server.DataDir, APIKeyFile), tc.stores)
		})
	}
}

// TestSeedAPIKey_PendingKeyFile: a start killed (SIGKILL) after the store
// took its generated key and before moving the pending file over
// <data>/api-key left the live key in api-key.new-* alone. The next start
// moves that file into place (over an earlier store's key file too) and
// says so; a pending file whose key is not live is left where it is,
// named (it may be another node's start in progress in a shared data
// directory), and never taken for api-key. Before, the next start found a
// live key, made none, and no api-key held it.
func TestSeedAPIKey_PendingKeyFile(t *testing.T) {
	cases := []struct {
		name    string
		earlier string // in api-key before; "": none
		stored  bool   // the pending file's key is live
		revoked bool   // and then revoked
		// a second pending file whose key is not live
		dead bool
	}{
		{name: "killed before the move", stored: true},
		{name: "killed before the move over an earlier key file", earlier: "sdak_an_earlier_key\n", stored: true},
		{name: "killed before the move, beside a dead pending file", stored: true, dead: true},
		{name: "pending key revoked", earlier: "", stored: true, revoked: true},
	}
	for _, st := range firstStartStores(t) {
		for _, tc := range cases {
			t.Run(st.name+"/"+tc.name, func(t *testing.T) {
				ctx := t.Context()
				meta := st.open(t)
				node := newFirstStartNode(t, meta)
				path := filepath.Join(node.cfg.Server.DataDir, APIKeyFile)
				if tc.earlier != "" {
					if err := os.WriteFile(path, []byte(tc.earlier), 0o600); err != nil {
						t.Fatal(err)
					}
				}
				// What the killed start left: its pending file, its key
				// in the store.
				secret, err := apikey.NewSecret()
				if err != nil {
					t.Fatal(err)
				}
				pending := writePending(t, path, secret)
				keys := apikey.New(meta, nil, time.Second)
				key, err := keys.SeedSecret(ctx, generatedKeyName, secret, apikey.ScopeAdmin)
				if err != nil {
					t.Fatal(err)
				}
				if tc.revoked {
					if err := keys.Revoke(ctx, key.ID); err != nil {
						t.Fatal(err)
					}
				}
				var left []string
				if tc.revoked {
					left = append(left, pending)
				}
				if tc.dead {
					never, err := apikey.NewSecret()
					if err != nil {
						t.Fatal(err)
					}
					left = append(left, writePending(t, path, never))
				}

				node.seed(ctx)
				if node.err != nil {
					t.Fatalf("seedAPIKey = %v; want nil", node.err)
				}
				if tc.revoked {
					// A new key made, in a file of its own.
					if node.res.adopted != "" || node.res.file == "" {
						t.Errorf("seedAPIKey with a revoked pending key = %+v; want a new key, none adopted", node.res)
					}
				} else if abs, _ := filepath.Abs(path); node.res.adopted != abs {
					t.Errorf("seedAPIKey after a start killed before its move: adopted %q; want %s", node.res.adopted, abs)
				}
				if raw, err := os.ReadFile(path); err != nil {
					t.Errorf("key file after the next start: %v", err)
				} else if got, err := keys.Authenticate(ctx, sessiond.Secret(strings.TrimSpace(string(raw)))); err != nil || !tc.revoked && got.ID != key.ID {
					t.Errorf("the key file holds key %q, %v; want the live key %s", got.ID, err, key.ID)
				}
				got, _ := filepath.Glob(path + ".new-*")
				slices.Sort(got)
				slices.Sort(left)
				if !slices.Equal(got, left) {
					t.Errorf("pending files after the next start = %v; want %v", got, left)
				}
				var told []string
				for _, l := range node.res.left {
					told = append(told, l.file)
				}
				slices.Sort(told)
				if !slices.Equal(told, left) {
					t.Errorf("pending files reported left = %v; want %v", told, left)
				}
			})
		}
	}
}

// writePending writes secret to a pending file beside path, as
// writePendingKey does, and returns its absolute name.
func writePending(t *testing.T, path string, secret sessiond.Secret) string {
	t.Helper()
	pending, err := writePendingKey(path, []byte(string(secret)+"\n"))
	if err != nil {
		t.Fatal(err)
	}
	abs, err := filepath.Abs(pending)
	if err != nil {
		t.Fatal(err)
	}
	return abs
}

// seedAfterMeta runs after once, right after the first write of the key
// set landed and before its answer: between a start's store taking its
// key and the move of its pending file.
type seedAfterMeta struct {
	sessiond.MetaStore
	once  sync.Once
	after func(ctx context.Context)
}

func (m *seedAfterMeta) PutMeta(ctx context.Context, name string, value []byte, version int64) (int64, error) {
	v, err := m.MetaStore.PutMeta(ctx, name, value, version)
	if name == apikey.DocName && err == nil {
		m.once.Do(func() { m.after(ctx) })
	}
	return v, err
}

// TestSeedAPIKey_PendingMovedByRestart: on a data directory two nodes
// share, one restarting between the other's store write and its move
// finds the pending file live and moves it into place first. The node
// that seeded finds its key there and succeeds, rather than failing on a
// pending file gone.
func TestSeedAPIKey_PendingMovedByRestart(t *testing.T) {
	for _, st := range firstStartStores(t) {
		t.Run(st.name, func(t *testing.T) {
			meta := st.open(t)
			other := newFirstStartNode(t, meta)
			race := &seedAfterMeta{MetaStore: meta, after: other.seed}
			node := newFirstStartNode(t, race)
			other.cfg.Server.DataDir = node.cfg.Server.DataDir
			node.seed(t.Context())
			path := filepath.Join(node.cfg.Server.DataDir, APIKeyFile)
			abs, _ := filepath.Abs(path)
			if node.err != nil || node.res.file != abs {
				t.Errorf("seedAPIKey whose pending file a restart moved = %+v, %v; want %s, nil", node.res, node.err, abs)
			}
			if other.err != nil || other.res.adopted != abs {
				t.Errorf("seedAPIKey restarting meanwhile = %+v, %v; want %s adopted", other.res, other.err, abs)
			}
			checkHeld(t, meta, path, true)
		})
	}
}

// TestBootstrapAPIKey_PendingKeyFile: a start that moves a pending key
// file into place, or leaves one, says so at WARN, naming the files and
// never their keys.
func TestBootstrapAPIKey_PendingKeyFile(t *testing.T) {
	meta := memstore.New()
	node := newFirstStartNode(t, meta)
	path := filepath.Join(node.cfg.Server.DataDir, APIKeyFile)
	live, err := apikey.NewSecret()
	if err != nil {
		t.Fatal(err)
	}
	dead, err := apikey.NewSecret()
	if err != nil {
		t.Fatal(err)
	}
	writePending(t, path, live)
	deadFile := writePending(t, path, dead)
	if _, err := node.keys.SeedSecret(t.Context(), generatedKeyName, live, apikey.ScopeAdmin); err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	if err := bootstrapAPIKey(t.Context(), node.cfg, "", node.keys, slog.New(slog.NewTextHandler(&logs, nil))); err != nil {
		t.Fatalf("bootstrapAPIKey = %v; want nil", err)
	}
	out := logs.String()
	abs, _ := filepath.Abs(path)
	for _, want := range []string{"level=WARN", "moved it there now", "file=" + abs, "pending API key file left in place", "file=" + deadFile} {
		if !strings.Contains(out, want) {
			t.Errorf("the log lacks %q:\n%s", want, out)
		}
	}
	for _, secret := range []sessiond.Secret{live, dead} {
		if strings.Contains(out, string(secret)) {
			t.Errorf("the log holds a key:\n%s", out)
		}
	}
}
