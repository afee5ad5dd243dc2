package signing_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/jwttoken/signing"
	"github.com/sessiond/sessiond/sessiondtest"
)

// readOnlyMeta refuses writes while on is set: a store that lost its data
// and cannot take it back (a failover to a read-only replica).
type readOnlyMeta struct {
	sessiond.MetaStore
	on atomic.Bool
}

func (m *readOnlyMeta) PutMeta(ctx context.Context, name string, value []byte, version int64) (int64, error) {
	if m.on.Load() {
		return 0, errors.New("READONLY You can't write against a read only replica")
	}
	return m.MetaStore.PutMeta(ctx, name, value, version)
}

// TestKeys_StoreLost: the store loses the shared ring under running nodes
// (a Redis without persistence restarted empty). Whoever finds it gone
// first writes its ring back, or merges its keys into a ring a node
// started since made, so that tokens signed before verify on every node,
// tokens signed after too, and OnReset is told once per node.
func TestKeys_StoreLost(t *testing.T) {
	cases := []struct {
		name string
		// after runs once the store lost the ring: it returns the nodes
		// that must agree (a and b held the ring before).
		after func(t *testing.T, ctx context.Context, meta sessiond.MetaStore, a, b *signing.Keys) []*signing.Keys
	}{
		{"poll writes it back", func(t *testing.T, ctx context.Context, meta sessiond.MetaStore, a, b *signing.Keys) []*signing.Keys {
			sync0(t, ctx, a, b)
			return []*signing.Keys{a, b, openFor(t, meta, nil)}
		}},
		{"maintain writes it back", func(t *testing.T, ctx context.Context, meta sessiond.MetaStore, a, b *signing.Keys) []*signing.Keys {
			if err := a.Maintain(ctx); err != nil {
				t.Fatalf("Maintain on a lost ring = %v; want it written back", err)
			}
			sync0(t, ctx, b)
			return []*signing.Keys{a, b, openFor(t, meta, nil)}
		}},
		{"both nodes at once", func(t *testing.T, ctx context.Context, meta sessiond.MetaStore, a, b *signing.Keys) []*signing.Keys {
			var wg sync.WaitGroup
			for _, k := range []*signing.Keys{a, b} {
				wg.Go(func() {
					if err := k.Sync(ctx); err != nil {
						t.Errorf("Sync = %v", err)
					}
				})
			}
			wg.Wait()
			sync0(t, ctx, a, b)
			return []*signing.Keys{a, b}
		}},
		{"a new node made a ring first", func(t *testing.T, ctx context.Context, meta sessiond.MetaStore, a, b *signing.Keys) []*signing.Keys {
			c := openFor(t, meta, nil) // finds no ring: makes one
			sync0(t, ctx, a, b, c)
			return []*signing.Keys{a, b, c}
		}},
	}
	for _, st := range metaStores(t) {
		for _, tc := range cases {
			t.Run(st.name+"/"+tc.name, func(t *testing.T) {
				ctx := context.Background()
				meta := sessiondtest.NewLosingMeta(st.reopen(t))
				var resets [2]atomic.Int32
				a := openFor(t, meta, func(r signing.Reset) { resets[0].Add(1) })
				b := openFor(t, meta, func(r signing.Reset) { resets[1].Add(1) })
				if err := a.Rotate(ctx); err != nil { // versions move on, and a next key is published
					t.Fatal(err)
				}
				sync0(t, ctx, b)
				before := sign(t, a)
				signer := currentKid(t, a)

				meta.Lose()
				nodes := tc.after(t, ctx, meta, a, b)

				if got := currentKid(t, a); got != signer && tc.name != "a new node made a ring first" {
					t.Errorf("signer after the ring was written back = %s; want %s, unchanged", got, signer)
				}
				for i, k := range nodes {
					if err := k.Ready(); err != nil {
						t.Errorf("node %d: Ready = %v; want nil", i, err)
					}
					if _, err := codec(t, k).Verify(sessiond.KindAccess, before, t0); err != nil {
						t.Errorf("node %d: a token signed before the loss: %v", i, err)
					}
					for j, other := range nodes {
						if _, err := codec(t, other).Verify(sessiond.KindAccess, sign(t, k), t0); err != nil {
							t.Errorf("node %d rejects a token node %d signed after the loss: %v", j, i, err)
						}
					}
				}
				for i := range resets {
					if n := resets[i].Load(); n != 1 {
						t.Errorf("OnReset on node %d called %d times; want 1", i, n)
					}
				}
				if _, _, err := meta.GetMeta(ctx, signing.DocName); err != nil {
					t.Errorf("stored ring after the loss: %v; want it back", err)
				}
			})
		}
	}
}

// TestKeys_StoreLostReadOnly: a node that finds the ring gone and cannot
// write it back says so in Ready until it can.
func TestKeys_StoreLostReadOnly(t *testing.T) {
	ctx := context.Background()
	ro := &readOnlyMeta{MetaStore: sessiondtest.NewLosingMeta(metaStores(t)[0].reopen(t))}
	a := openFor(t, ro, nil)
	ro.MetaStore.(*sessiondtest.LosingMeta).Lose()
	ro.on.Store(true)
	if err := a.Sync(ctx); err == nil {
		t.Fatal("Sync on a lost ring that cannot be written back = nil; want the error")
	}
	if err := a.Ready(); err == nil {
		t.Error("Ready = nil while the ring is gone from the store; want an error")
	}
	ro.on.Store(false)
	if err := a.Sync(ctx); err != nil {
		t.Fatalf("Sync once writes work again = %v", err)
	}
	if err := a.Ready(); err != nil {
		t.Errorf("Ready after the ring was written back = %v; want nil", err)
	}
}

func openFor(t *testing.T, meta sessiond.MetaStore, onReset func(signing.Reset)) *signing.Keys {
	t.Helper()
	o := signing.Options{MaxTokenLifetime: 24 * time.Hour, Clock: sessiondtest.NewClock(t0)}
	if onReset != nil {
		o.OnReset = func(_ context.Context, r signing.Reset) { onReset(r) }
	}
	k, err := signing.Open(context.Background(), meta, o)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// sync0 syncs each node twice, in order: what their polls do.
func sync0(t *testing.T, ctx context.Context, nodes ...*signing.Keys) {
	t.Helper()
	for range 2 {
		for i, k := range nodes {
			if err := k.Sync(ctx); err != nil {
				t.Fatalf("node %d: Sync = %v", i, err)
			}
		}
	}
}

func sign(t *testing.T, k *signing.Keys) sessiond.Secret {
	t.Helper()
	tok, err := codec(t, k).Sign(sessiond.KindAccess, claims(t0))
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func currentKid(t *testing.T, k *signing.Keys) string {
	t.Helper()
	for _, ki := range k.Ring().Keys() {
		if ki.Current {
			return ki.ID
		}
	}
	t.Fatal("no current key")
	return ""
}
