package apikey_test

import (
	"context"
	"errors"
	"path/filepath"
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

// TestKeys_StoreLost: the store loses the key set under running nodes (a
// Redis without persistence restarted empty). At its next reload each node
// seeds the set again with its own key, through OnReset, whichever node
// finds the loss first; keys made through the API stay lost; and Ready
// fails while a node's key cannot be put back.
func TestKeys_StoreLost(t *testing.T) {
	stores := []struct {
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
	for _, st := range stores {
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
