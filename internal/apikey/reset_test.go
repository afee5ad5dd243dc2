package apikey_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/internal/apikey"
	"github.com/sessiond/sessiond/memstore"
	"github.com/sessiond/sessiond/sessiondtest"
	"github.com/sessiond/sessiond/sqlitestore"
)

// resetNode is one node's key set, seeded with its own operator key as
// `sessiond serve` does with SESSIOND_API_KEY, at start and on OnReset.
type resetNode struct {
	keys   *apikey.Keys
	env    sessiond.Secret
	resets atomic.Int32
	fail   atomic.Bool // OnReset fails (a store that takes no writes)
}

func newResetNode(t *testing.T, meta sessiond.MetaStore, clock sessiond.Clock, env string) *resetNode {
	t.Helper()
	n := &resetNode{keys: apikey.New(meta, clock, time.Second), env: sessiond.Secret(env)}
	n.keys.OnReset(func(ctx context.Context, r apikey.Reset) error {
		n.resets.Add(1)
		if n.fail.Load() {
			return errors.New("READONLY You can't write against a read only replica")
		}
		_, err := n.keys.Ensure(ctx, "env", n.env)
		return err
	})
	if _, err := n.keys.Ensure(t.Context(), "env", n.env); err != nil {
		t.Fatal(err)
	}
	return n
}

// resetStores are the stores the reset tests run on.
var resetStores = []struct {
	name string
	open func(t *testing.T) sessiond.MetaStore
}{
	{"memory", func(*testing.T) sessiond.MetaStore { return memstore.New() }},
	{"sqlite", func(t *testing.T) sessiond.MetaStore {
		st, err := sqlitestore.New(t.Context(), filepath.Join(t.TempDir(), "sessiond.db"), sqlitestore.Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		return st
	}},
}

// TestKeys_StoreLost: the store loses the key set under running nodes (a
// Redis without persistence restarted empty). At its next reload each node
// seeds the set again with its own key, through OnReset, whichever node
// finds the loss first; keys made through the API stay lost; and Ready
// fails while a node's key cannot be put back.
func TestKeys_StoreLost(t *testing.T) {
	keyA, keyB := strings.Repeat("a", 40), strings.Repeat("b", 40)
	cases := []struct {
		name string
		// after runs once the set is lost and the cache period passed.
		after func(t *testing.T, ctx context.Context, a, b *resetNode)
	}{
		{"each node seeds its key", func(t *testing.T, ctx context.Context, a, b *resetNode) {
			_, _ = a.keys.Authenticate(ctx, a.env)
			_, _ = b.keys.Authenticate(ctx, b.env)
		}},
		{"the other node seeded first", func(t *testing.T, ctx context.Context, a, b *resetNode) {
			_, _ = b.keys.Authenticate(ctx, b.env)
			_, _ = a.keys.Authenticate(ctx, a.env) // finds b's new set: an older version
		}},
		{"Ready reloads an idle node", func(t *testing.T, ctx context.Context, a, b *resetNode) {
			for _, n := range []*resetNode{a, b} {
				if err := n.keys.Ready(ctx); err != nil {
					t.Errorf("Ready = %v; want the set re-created", err)
				}
			}
		}},
		{"a failed re-creation is tried again", func(t *testing.T, ctx context.Context, a, b *resetNode) {
			a.fail.Store(true)
			if _, err := a.keys.Authenticate(ctx, a.env); !errors.Is(err, apikey.ErrUnauthorized) {
				t.Errorf("Authenticate(own key) while it cannot be put back = %v; want ErrUnauthorized", err)
			}
			if err := a.keys.Ready(ctx); err == nil || !strings.Contains(err.Error(), "READONLY") {
				t.Errorf("Ready while the set cannot be re-created = %v; want the cause", err)
			}
			a.fail.Store(false)
			a.resets.Store(0)
			if _, err := a.keys.Authenticate(ctx, a.env); !errors.Is(err, apikey.ErrUnauthorized) {
				t.Errorf("Authenticate within the cache period = %v; want no new try yet", err)
			}
			b.keys.Authenticate(ctx, b.env)
		}},
	}
	for _, st := range resetStores {
		for _, tc := range cases {
			t.Run(st.name+"/"+tc.name, func(t *testing.T) {
				ctx := t.Context()
				lost := sessiondtest.NewLosingMeta(st.open(t))
				clock := sessiondtest.NewClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
				a := newResetNode(t, lost, clock, keyA)
				b := newResetNode(t, lost, clock, keyB)
				made, _, err := a.keys.Create(ctx, "made through the API")
				if err != nil {
					t.Fatal(err)
				}
				for _, n := range []*resetNode{a, b} {
					for _, key := range []sessiond.Secret{a.env, b.env, made} {
						if _, err := n.keys.Authenticate(ctx, key); err != nil {
							t.Fatalf("before the loss: Authenticate = %v", err)
						}
					}
				}

				lost.Lose()
				clock.Advance(time.Second)
				tc.after(t, ctx, a, b)
				clock.Advance(time.Second)

				for i, n := range []*resetNode{a, b} {
					for _, key := range []sessiond.Secret{a.env, b.env} {
						if _, err := n.keys.Authenticate(ctx, key); err != nil {
							t.Errorf("node %d: Authenticate(a node's own key) after the loss = %v; want it seeded again", i, err)
						}
					}
					if _, err := n.keys.Authenticate(ctx, made); !errors.Is(err, apikey.ErrUnauthorized) {
						t.Errorf("node %d: Authenticate(a key made through the API) after the loss = %v; want ErrUnauthorized (lost with the store)", i, err)
					}
					if err := n.keys.Ready(ctx); err != nil {
						t.Errorf("node %d: Ready = %v; want nil", i, err)
					}
					if got := n.resets.Load(); got != 1 {
						t.Errorf("node %d: OnReset called %d times; want 1", i, got)
					}
				}
				list, err := a.keys.List(ctx)
				if err != nil || len(list) != 2 {
					t.Errorf("stored set after the loss = %d keys, %v; want the two nodes' keys", len(list), err)
				}
			})
		}
	}
}

// TestKeys_StoreLostToAnotherSet: the store loses the set and a node
// started on the empty store seeds its own, perhaps changing it past the
// version a running node last read before that node reloads (an idle
// node, or one cut off from the store meanwhile). The running node tells
// the loss by the set's other lineage, whatever the version: it seeds its
// own key again (OnReset, once), and writes back the revocations it knew
// of, so that a revoked key cannot be seeded again.
func TestKeys_StoreLostToAnotherSet(t *testing.T) {
	cases := []struct {
		name   string
		writes int // keys the new node makes before the running one reloads
	}{
		{"below the node's version", 0},
		{"past the node's version", 3},
	}
	for _, st := range resetStores {
		for _, tc := range cases {
			t.Run(st.name+"/"+tc.name, func(t *testing.T) {
				ctx := t.Context()
				lost := sessiondtest.NewLosingMeta(st.open(t))
				clock := sessiondtest.NewClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
				a := newResetNode(t, lost, clock, strings.Repeat("a", 40))
				leaked, key, err := a.keys.Create(ctx, "leaked", apikey.ScopeAdmin)
				if err != nil {
					t.Fatal(err)
				}
				if err := a.keys.Revoke(ctx, key.ID); err != nil {
					t.Fatal(err)
				}
				clock.Advance(time.Second)
				if _, err := a.keys.Authenticate(ctx, a.env); err != nil {
					t.Fatal(err)
				}

				lost.Lose()
				c := newResetNode(t, lost, clock, strings.Repeat("c", 40)) // started on the empty store
				for range tc.writes {
					if _, _, err := c.keys.Create(ctx, "made on the new set"); err != nil {
						t.Fatal(err)
					}
				}
				clock.Advance(time.Second)
				_, err = a.keys.Authenticate(ctx, a.env)
				if err != nil {
					t.Errorf("Authenticate(the node's own key) after the loss = %v; want it seeded again", err)
				}
				if got := a.resets.Load(); got != 1 {
					t.Errorf("OnReset calls = %d; want 1", got)
				}
				if err := a.keys.Ready(ctx); err != nil {
					t.Errorf("Ready = %v; want nil", err)
				}
				clock.Advance(time.Second)
				for i, n := range []*resetNode{a, c} {
					if _, err := n.keys.Authenticate(ctx, leaked); !errors.Is(err, apikey.ErrUnauthorized) {
						t.Errorf("node %d: Authenticate(a key revoked before the loss) = %v; want ErrUnauthorized", i, err)
					}
				}
				fresh := apikey.New(lost, clock, time.Second) // a node started now
				if _, err := fresh.Ensure(ctx, "seeded again", leaked); !errors.Is(err, apikey.ErrKeyRevoked) {
					t.Errorf("Ensure(a key revoked before the loss) on the stored set = %v; want ErrKeyRevoked (its revocation written back)", err)
				}
			})
		}
	}
}

// TestKeys_PreviousReleaseRewrite: during a rolling upgrade a node of the
// previous release rewrites the set without its lineage (it knows no such
// field), then a node of this one starts and writes the set. The running
// node must not take that write for another set (a store that lost its
// data): seen with real builds, a new node restarting beside a 2d4cd1d one
// made every running node log the loss and record store.reset_detected.
func TestKeys_PreviousReleaseRewrite(t *testing.T) {
	cases := []struct {
		name  string
		reads int // reloads of the running node between the rewrite and the started node's write
	}{
		{"rewrite not read yet", 0},
		{"rewrite read", 1},
		{"rewrite read, then unchanged", 2},
	}
	for _, st := range resetStores {
		for _, tc := range cases {
			t.Run(st.name+"/"+tc.name, func(t *testing.T) {
				ctx := t.Context()
				meta := st.open(t)
				clock := sessiondtest.NewClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
				a := newResetNode(t, meta, clock, strings.Repeat("a", 40))

				// The previous release's rewrite: the same set, no lineage.
				raw, version, err := meta.GetMeta(ctx, apikey.DocName)
				if err != nil {
					t.Fatal(err)
				}
				var d map[string]any
				if err := json.Unmarshal(raw, &d); err != nil {
					t.Fatal(err)
				}
				delete(d, "lineage")
				if raw, err = json.Marshal(d); err != nil {
					t.Fatal(err)
				}
				if _, err := meta.PutMeta(ctx, apikey.DocName, raw, version); err != nil {
					t.Fatal(err)
				}
				for range tc.reads {
					clock.Advance(time.Second)
					if _, err := a.keys.Authenticate(ctx, a.env); err != nil {
						t.Fatal(err)
					}
				}

				c := newResetNode(t, meta, clock, strings.Repeat("c", 40)) // started now: seeds its key
				made, _, err := c.keys.Create(ctx, "made on the started node", apikey.ScopeVerify)
				if err != nil {
					t.Fatal(err)
				}
				clock.Advance(time.Second)
				for _, secret := range []sessiond.Secret{a.env, c.env, made} {
					if _, err := a.keys.Authenticate(ctx, secret); err != nil {
						t.Errorf("running node: Authenticate(a key of the set) = %v; want nil", err)
					}
				}
				if got := a.resets.Load(); got != 0 {
					t.Errorf("running node: OnReset calls = %d; want 0 (the set was rewritten, not lost)", got)
				}
				if got := c.resets.Load(); got != 0 {
					t.Errorf("started node: OnReset calls = %d; want 0", got)
				}
			})
		}
	}
}

// TestKeys_PreviousReleaseSetLost: a deployment upgraded from a release
// without lineages stores its set without one and no node holds one. The
// first write of this release names it (adopted), so that a store that
// loses the set later is still told by its lineage: here node c, started
// on the emptied store, writes its new set past node a's version before a
// reloads, and a must still take it for a loss.
func TestKeys_PreviousReleaseSetLost(t *testing.T) {
	for _, st := range resetStores {
		t.Run(st.name, func(t *testing.T) {
			ctx := t.Context()
			lost := sessiondtest.NewLosingMeta(st.open(t))
			clock := sessiondtest.NewClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
			// The set as the previous release made it: no lineage.
			if _, err := lost.PutMeta(ctx, apikey.DocName, []byte(`{"keys":[]}`), 0); err != nil {
				t.Fatal(err)
			}
			a := newResetNode(t, lost, clock, strings.Repeat("a", 40))
			for range 2 {
				if _, _, err := a.keys.Create(ctx, "made before the loss"); err != nil {
					t.Fatal(err)
				}
			}
			raw, _, err := lost.GetMeta(ctx, apikey.DocName)
			if err != nil {
				t.Fatal(err)
			}
			var stored struct {
				Lineage string `json:"lineage"`
				Adopted bool   `json:"lineage_adopted"`
			}
			if err := json.Unmarshal(raw, &stored); err != nil {
				t.Fatal(err)
			}
			if stored.Lineage == "" || !stored.Adopted {
				t.Errorf("stored set after this release's writes = %s; want a lineage marked adopted", raw)
			}

			lost.Lose()
			c := newResetNode(t, lost, clock, strings.Repeat("c", 40)) // started on the empty store
			for range 5 {
				if _, _, err := c.keys.Create(ctx, "made on the new set"); err != nil {
					t.Fatal(err)
				}
			}
			clock.Advance(time.Second)
			if _, err := a.keys.Authenticate(ctx, a.env); err != nil {
				t.Errorf("Authenticate(the node's own key) after the loss = %v; want it seeded again", err)
			}
			if got := a.resets.Load(); got != 1 {
				t.Errorf("OnReset calls = %d; want 1 (the set was lost)", got)
			}
			if got := c.resets.Load(); got != 0 {
				t.Errorf("started node: OnReset calls = %d; want 0", got)
			}
		})
	}
}

// TestKeys_AdoptedLineage: a node holding the set's lineage finds another
// one. Marked adopted at a later version, a node that never read the
// set's lineage named it (TestKeys_PreviousReleaseSetLost): the same set,
// taken as it is, and written on with that lineage. Unmarked, or at a
// version not past the node's, the store lost the set.
func TestKeys_AdoptedLineage(t *testing.T) {
	cases := []struct {
		name    string
		adopted bool
		ahead   int64 // the version found, from the node's
		resets  int32
	}{
		{"adopted, later", true, 1, 0},
		{"adopted, far later", true, 5, 0},
		{"not adopted, later", false, 1, 1},
		{"adopted, same version", true, 0, 1},
		{"adopted, earlier", true, -1, 1},
	}
	for _, st := range resetStores {
		for _, tc := range cases {
			t.Run(st.name+"/"+tc.name, func(t *testing.T) {
				ctx := t.Context()
				lost := sessiondtest.NewLosingMeta(st.open(t))
				clock := sessiondtest.NewClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
				a := newResetNode(t, lost, clock, strings.Repeat("a", 40))
				for range 2 {
					if _, _, err := a.keys.Create(ctx, "made"); err != nil {
						t.Fatal(err)
					}
				}
				raw, version, err := lost.GetMeta(ctx, apikey.DocName)
				if err != nil {
					t.Fatal(err)
				}
				var d map[string]any
				if err := json.Unmarshal(raw, &d); err != nil {
					t.Fatal(err)
				}
				d["lineage"] = strings.Repeat("2", 32)
				if tc.adopted {
					d["lineage_adopted"] = true
				}
				if raw, err = json.Marshal(d); err != nil {
					t.Fatal(err)
				}
				// The same keys under another lineage, stored at the
				// version wanted (on an emptied store when not later).
				want, put := version+tc.ahead, version
				if tc.ahead <= 0 {
					lost.Lose()
					put = 0
				}
				for put < want {
					if put, err = lost.PutMeta(ctx, apikey.DocName, raw, put); err != nil {
						t.Fatal(err)
					}
				}
				clock.Advance(time.Second)
				if _, err := a.keys.Authenticate(ctx, a.env); err != nil {
					t.Errorf("Authenticate(the node's own key) = %v; want nil", err)
				}
				if got := a.resets.Load(); got != tc.resets {
					t.Errorf("OnReset calls = %d; want %d", got, tc.resets)
				}
				if tc.resets != 0 {
					return
				}
				if _, _, err := a.keys.Create(ctx, "made after"); err != nil {
					t.Fatal(err)
				}
				if raw, _, err = lost.GetMeta(ctx, apikey.DocName); err != nil {
					t.Fatal(err)
				}
				if err := json.Unmarshal(raw, &d); err != nil {
					t.Fatal(err)
				}
				if d["lineage"] != strings.Repeat("2", 32) || d["lineage_adopted"] != true {
					t.Errorf("set written after = %s; want the adopted lineage kept", raw)
				}
			})
		}
	}
}

// TestKeys_StoreRolledBackStaleNode: the store rolls back; node a writes
// the union back, then an operator changes a key's scopes through a. Node
// b, which held a later pre-rollback set and had not reloaded yet, finds
// the stored version at or below its own and takes it for the rollback:
// its union must not undo a narrowing. For a key both copies know the
// narrower scopes win (admin standing for all), their intersection when
// neither is within the other.
func TestKeys_StoreRolledBackStaleNode(t *testing.T) {
	cases := []struct {
		name          string
		before, after []apikey.Scope // before the snapshot; set through a once mended
		want          []apikey.Scope
	}{
		{"narrowed", []apikey.Scope{apikey.ScopeAdmin}, []apikey.Scope{apikey.ScopeVerify}, []apikey.Scope{apikey.ScopeVerify}},
		{"narrowed from explicit scopes",
			[]apikey.Scope{apikey.ScopeVerify, apikey.ScopeSessionsRead}, []apikey.Scope{apikey.ScopeSessionsRead},
			[]apikey.Scope{apikey.ScopeSessionsRead}},
		{"moved: the intersection",
			[]apikey.Scope{apikey.ScopeVerify, apikey.ScopeSessionsRead}, []apikey.Scope{apikey.ScopeSessionsRead, apikey.ScopeEventsRead},
			[]apikey.Scope{apikey.ScopeSessionsRead}},
		{"widened: the stale copy's narrower scopes", []apikey.Scope{apikey.ScopeVerify}, []apikey.Scope{apikey.ScopeAdmin}, []apikey.Scope{apikey.ScopeVerify}},
	}
	for _, st := range resetStores {
		for _, tc := range cases {
			t.Run(st.name+"/"+tc.name, func(t *testing.T) {
				ctx := t.Context()
				meta := sessiondtest.NewRollbackMeta(st.open(t))
				clock := sessiondtest.NewClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
				a := newResetNode(t, meta, clock, strings.Repeat("a", 40))
				b := newResetNode(t, meta, clock, strings.Repeat("b", 40))
				secret, key, err := a.keys.Create(ctx, "changed", tc.before...)
				if err != nil {
					t.Fatal(err)
				}
				meta.Snapshot(t)
				for i := range 3 { // writes after the snapshot, that b reads
					if _, _, err := a.keys.Create(ctx, fmt.Sprintf("later %d", i)); err != nil {
						t.Fatal(err)
					}
				}
				clock.Advance(time.Second)
				if _, err := b.keys.Authenticate(ctx, b.env); err != nil {
					t.Fatal(err)
				}

				meta.Rollback(t)
				clock.Advance(time.Second)
				if _, err := a.keys.Authenticate(ctx, a.env); err != nil { // a finds the rollback, writes the union back
					t.Fatal(err)
				}
				if _, err := a.keys.SetScopes(ctx, key.ID, tc.after); err != nil {
					t.Fatal(err)
				}
				clock.Advance(time.Second)
				_, _ = b.keys.Authenticate(ctx, b.env) // b's first reload since the rollback
				clock.Advance(time.Second)
				_, _ = a.keys.Authenticate(ctx, a.env)

				fresh := apikey.New(meta, clock, time.Second)
				if got, err := fresh.Get(ctx, key.ID); err != nil || !slices.Equal(got.Scopes, tc.want) {
					t.Errorf("stored scopes = %v, %v; want %v", got.Scopes, err, tc.want)
				}
				for i, n := range []*resetNode{a, b} {
					if got, err := n.keys.Authenticate(ctx, secret); err != nil || !slices.Equal(got.Scopes, tc.want) {
						t.Errorf("node %d: scopes = %v, %v; want %v", i, got.Scopes, err, tc.want)
					}
					if err := n.keys.Ready(ctx); err != nil {
						t.Errorf("node %d: Ready = %v; want nil", i, err)
					}
				}
			})
		}
	}
}

// TestKeys_StoreLostWithoutOnReset: with no OnReset (the CLI) a lost set
// reads as the empty one it is, as before, and Ready has nothing to mend.
func TestKeys_StoreLostWithoutOnReset(t *testing.T) {
	ctx := t.Context()
	lost := sessiondtest.NewLosingMeta(memstore.New())
	clock := sessiondtest.NewClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	keys := apikey.New(lost, clock, time.Second)
	env := sessiond.Secret(strings.Repeat("e", 40))
	if _, err := keys.Ensure(ctx, "env", env); err != nil {
		t.Fatal(err)
	}
	lost.Lose()
	clock.Advance(time.Second)
	if _, err := keys.Authenticate(ctx, env); !errors.Is(err, apikey.ErrUnauthorized) {
		t.Errorf("Authenticate after the loss = %v; want ErrUnauthorized", err)
	}
	if err := keys.Ready(ctx); err != nil {
		t.Errorf("Ready = %v; want nil", err)
	}
}

// TestKeys_StoreRolledBack: the store comes back as an older copy of the
// set (a Redis restarted from its last RDB snapshot, a failover to a
// lagging replica), at the version it had then. A node that read the
// newer set writes back the union, where a revocation wins: a key revoked
// since the copy stays revoked, a key made since keeps working, and so do
// scopes narrowed since; keys made on the copy before a node noticed are
// kept too.
func TestKeys_StoreRolledBack(t *testing.T) {
	keyA, keyB := strings.Repeat("a", 40), strings.Repeat("b", 40)
	type fixture struct {
		a, b                 *resetNode
		revoked, made, other sessiond.Secret // other: made on the copy
		narrowed             apikey.Key
		copied               sessiond.Secret // made before the copy, untouched
	}
	cases := []struct {
		name string
		// after runs once the store rolled back and the cache period
		// passed; the copy may already hold changes made by then.
		after func(t *testing.T, ctx context.Context, f *fixture)
	}{
		{"the node that held the newer set writes it back", func(t *testing.T, ctx context.Context, f *fixture) {
			_, _ = f.a.keys.Authenticate(ctx, f.a.env)
			_, _ = f.b.keys.Authenticate(ctx, f.b.env)
		}},
		{"both nodes held it", func(t *testing.T, ctx context.Context, f *fixture) {
			_, _ = f.b.keys.Authenticate(ctx, f.b.env)
			_, _ = f.a.keys.Authenticate(ctx, f.a.env) // finds b's union: still older than its own
		}},
		{"a key made on the copy first", func(t *testing.T, ctx context.Context, f *fixture) {
			other, _, err := f.b.keys.Create(ctx, "made on the copy") // b writes before it reloads
			if err != nil {
				t.Fatal(err)
			}
			f.other = other
			_, _ = f.a.keys.Authenticate(ctx, f.a.env)
		}},
		{"Ready reloads an idle node", func(t *testing.T, ctx context.Context, f *fixture) {
			for _, n := range []*resetNode{f.a, f.b} {
				if err := n.keys.Ready(ctx); err != nil {
					t.Errorf("Ready = %v; want the set written back", err)
				}
			}
		}},
	}
	for _, st := range resetStores {
		for _, tc := range cases {
			t.Run(st.name+"/"+tc.name, func(t *testing.T) {
				ctx := t.Context()
				meta := sessiondtest.NewRollbackMeta(st.open(t))
				clock := sessiondtest.NewClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
				f := &fixture{a: newResetNode(t, meta, clock, keyA), b: newResetNode(t, meta, clock, keyB)}
				var err error
				if f.copied, _, err = f.a.keys.Create(ctx, "before the copy"); err != nil {
					t.Fatal(err)
				}
				revoked, leaked, err := f.a.keys.Create(ctx, "leaked", apikey.ScopeAdmin)
				if err != nil {
					t.Fatal(err)
				}
				f.revoked = revoked
				narrowed, narrowedKey, err := f.a.keys.Create(ctx, "narrowed", apikey.ScopeAdmin)
				if err != nil {
					t.Fatal(err)
				}
				meta.Snapshot(t)

				if err := f.a.keys.Revoke(ctx, leaked.ID); err != nil {
					t.Fatal(err)
				}
				if f.narrowed, err = f.a.keys.SetScopes(ctx, narrowedKey.ID, []apikey.Scope{apikey.ScopeVerify}); err != nil {
					t.Fatal(err)
				}
				if f.made, _, err = f.a.keys.Create(ctx, "made after the copy"); err != nil {
					t.Fatal(err)
				}
				clock.Advance(time.Second)
				for _, n := range []*resetNode{f.a, f.b} { // both read the newer set
					if _, err := n.keys.Authenticate(ctx, f.made); err != nil {
						t.Fatalf("before the rollback: Authenticate = %v", err)
					}
				}

				meta.Rollback(t)
				clock.Advance(time.Second)
				tc.after(t, ctx, f)
				clock.Advance(time.Second)

				for i, n := range []*resetNode{f.a, f.b} {
					if _, err := n.keys.Authenticate(ctx, f.revoked); !errors.Is(err, apikey.ErrUnauthorized) {
						t.Errorf("node %d: Authenticate(a key revoked after the copy) = %v; want ErrUnauthorized", i, err)
					}
					live := []sessiond.Secret{f.a.env, f.b.env, f.made, f.copied}
					if f.other != "" {
						live = append(live, f.other)
					}
					for j, key := range live {
						if _, err := n.keys.Authenticate(ctx, key); err != nil {
							t.Errorf("node %d: Authenticate(live key %d) after the rollback = %v; want it kept", i, j, err)
						}
					}
					if got, err := n.keys.Authenticate(ctx, narrowed); err != nil || got.Allows(apikey.ScopeAdmin) {
						t.Errorf("node %d: key narrowed after the copy = %v, %v; want verify only", i, got.Scopes, err)
					}
					if err := n.keys.Ready(ctx); err != nil {
						t.Errorf("node %d: Ready = %v; want nil", i, err)
					}
				}
				// What a node started now reads: the stored set.
				fresh := apikey.New(meta, clock, time.Second)
				if _, err := fresh.Authenticate(ctx, f.revoked); !errors.Is(err, apikey.ErrUnauthorized) {
					t.Errorf("stored set: Authenticate(a key revoked after the copy) = %v; want ErrUnauthorized", err)
				}
				if _, err := fresh.Authenticate(ctx, f.made); err != nil {
					t.Errorf("stored set: Authenticate(a key made after the copy) = %v; want it written back", err)
				}
				if got, err := fresh.Get(ctx, f.narrowed.ID); err != nil || !slices.Equal(got.Scopes, f.narrowed.Scopes) {
					t.Errorf("stored set: narrowed key scopes = %v, %v; want %v", got.Scopes, err, f.narrowed.Scopes)
				}
			})
		}
	}
}
