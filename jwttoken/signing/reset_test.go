package signing_test

import (
	"context"
	"encoding/json"
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
// tokens signed after too, and OnReset is told once per node; also when
// that new ring was changed past the version the nodes read before they
// polled (its other lineage tells it).
func TestKeys_StoreLost(t *testing.T) {
	cases := []struct {
		name string
		// newRing: a node started on the empty store made its own ring,
		// whose signer may win.
		newRing bool
		// after runs once the store lost the ring: it returns the nodes
		// that must agree (a and b held the ring before).
		after func(t *testing.T, ctx context.Context, meta sessiond.MetaStore, a, b *signing.Keys) []*signing.Keys
	}{
		{"poll writes it back", false, func(t *testing.T, ctx context.Context, meta sessiond.MetaStore, a, b *signing.Keys) []*signing.Keys {
			sync0(t, ctx, a, b)
			return []*signing.Keys{a, b, openFor(t, meta, nil)}
		}},
		{"maintain writes it back", false, func(t *testing.T, ctx context.Context, meta sessiond.MetaStore, a, b *signing.Keys) []*signing.Keys {
			if err := a.Maintain(ctx); err != nil {
				t.Fatalf("Maintain on a lost ring = %v; want it written back", err)
			}
			sync0(t, ctx, b)
			return []*signing.Keys{a, b, openFor(t, meta, nil)}
		}},
		{"both nodes at once", false, func(t *testing.T, ctx context.Context, meta sessiond.MetaStore, a, b *signing.Keys) []*signing.Keys {
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
		{"a new node made a ring first", true, func(t *testing.T, ctx context.Context, meta sessiond.MetaStore, a, b *signing.Keys) []*signing.Keys {
			c := openFor(t, meta, nil) // finds no ring: makes one
			sync0(t, ctx, a, b, c)
			return []*signing.Keys{a, b, c}
		}},
		{"a new node made a ring and changed it past the nodes' version", true, func(t *testing.T, ctx context.Context, meta sessiond.MetaStore, a, b *signing.Keys) []*signing.Keys {
			c := openFor(t, meta, nil)
			for range 3 { // its changes (the kill switch here): each a write
				if err := c.RetireAll(ctx); err != nil {
					t.Fatal(err)
				}
			}
			sync0(t, ctx, a, b, c)
			return []*signing.Keys{a, b, c, openFor(t, meta, nil)}
		}},
	}
	for _, tc := range cases {
		for _, st := range metaStores(t) { // fresh data for each case
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

				if got := currentKid(t, a); got != signer && !tc.newRing {
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

// TestKeys_StoreRolledBack: the kill switch (RetireAll) dropped every key,
// then the store comes back as a copy taken before it, at the version it
// had then (a Redis restarted from its last RDB snapshot, its default
// persistence; a failover to a lagging replica). The dropped signer must
// not sign again, nor its tokens (one forged with the leaked key) verify,
// on any node, whoever wrote to the copy meanwhile, and whichever release
// ran the kill switch.
func TestKeys_StoreRolledBack(t *testing.T) {
	cases := []struct {
		name string
		// oldRelease: a node of the previous release ran the kill switch;
		// its document records no dropped key.
		oldRelease bool
		// after runs once the store rolled back: it may write to the copy
		// and returns nodes opened since, which must agree too.
		after func(t *testing.T, ctx context.Context, meta *sessiondtest.RollbackMeta) []*signing.Keys
	}{
		{"nodes find the older copy", false, func(*testing.T, context.Context, *sessiondtest.RollbackMeta) []*signing.Keys { return nil }},
		{"a node opened on the copy rotated it", false, func(t *testing.T, ctx context.Context, meta *sessiondtest.RollbackMeta) []*signing.Keys {
			c := openFor(t, meta, nil) // holds the copy: the dropped signer
			if err := c.Rotate(ctx); err != nil {
				t.Fatal(err)
			}
			return []*signing.Keys{c}
		}},
		{"the copy was written past the nodes' version", false, func(t *testing.T, ctx context.Context, meta *sessiondtest.RollbackMeta) []*signing.Keys {
			rewrite(t, meta, signing.DocName, 3, nil)
			return nil
		}},
		{"a node of the previous release rewrote the copy", false, func(t *testing.T, ctx context.Context, meta *sessiondtest.RollbackMeta) []*signing.Keys {
			// It decodes the payload leniently and writes back only the
			// fields it knows.
			rewrite(t, meta, signing.DocName, 3, previousRelease(t))
			return nil
		}},
		{"a node of the previous release ran the kill switch", true, func(*testing.T, context.Context, *sessiondtest.RollbackMeta) []*signing.Keys { return nil }},
	}
	for _, st := range metaStores(t) {
		for _, tc := range cases {
			t.Run(st.name+"/"+tc.name, func(t *testing.T) {
				ctx := context.Background()
				meta := sessiondtest.NewRollbackMeta(st.reopen(t))
				a := openFor(t, meta, nil)
				b := openFor(t, meta, nil)
				compromised := currentKid(t, a)
				forged := sign(t, a) // stands for a token signed with the stolen key
				meta.Snapshot(t)     // the RDB snapshot, before the incident

				killer := a
				if tc.oldRelease {
					killer = openFor(t, &previousReleaseMeta{MetaStore: meta, strip: previousRelease(t)}, nil)
				}
				if err := killer.RetireAll(ctx); err != nil { // the kill switch
					t.Fatal(err)
				}
				if tc.oldRelease {
					killer.Close()
				}
				sync0(t, ctx, a, b)
				signer := currentKid(t, a)
				after := sign(t, a)

				meta.Rollback(t)
				nodes := append([]*signing.Keys{a, b}, tc.after(t, ctx, meta)...)
				sync0(t, ctx, nodes...)
				nodes = append(nodes, openFor(t, meta, nil)) // reads what is stored

				for i, k := range nodes {
					if got := currentKid(t, k); got != signer {
						t.Errorf("node %d: signer after the store rolled back = %s (the dropped one: %v); want %s, the kill switch's", i, got, got == compromised, signer)
					}
					if _, err := codec(t, k).Verify(sessiond.KindAccess, forged, t0); !errors.Is(err, sessiond.ErrInvalidToken) {
						t.Errorf("node %d: Verify(token of the key the kill switch dropped) = %v; want ErrInvalidToken", i, err)
					}
					if _, err := codec(t, k).Verify(sessiond.KindAccess, after, t0); err != nil {
						t.Errorf("node %d: Verify(token signed after the kill switch) = %v; want it valid", i, err)
					}
					if err := k.Ready(); err != nil {
						t.Errorf("node %d: Ready = %v; want nil", i, err)
					}
				}
			})
		}
	}
}

// previousRelease returns a stored document as a node of the previous
// release rewrites it: the payload with only the fields it knows.
func previousRelease(t *testing.T) func([]byte) []byte {
	return func(doc []byte) []byte {
		t.Helper()
		var s map[string]json.RawMessage
		if err := json.Unmarshal(doc, &s); err != nil {
			t.Fatal(err)
		}
		var p struct {
			Ring            json.RawMessage `json:"ring"`
			HS256Secret     string          `json:"hs256_secret,omitempty"`
			HS256Superseded []string        `json:"hs256_superseded,omitempty"`
		}
		if err := json.Unmarshal(s["payload"], &p); err != nil {
			t.Fatal(err)
		}
		var err error
		if s["payload"], err = json.Marshal(p); err != nil {
			t.Fatal(err)
		}
		out, err := json.Marshal(s)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
}

// previousReleaseMeta writes the signing document as a node of the
// previous release does (strip: previousRelease).
type previousReleaseMeta struct {
	sessiond.MetaStore
	strip func([]byte) []byte
}

func (m *previousReleaseMeta) PutMeta(ctx context.Context, name string, value []byte, version int64) (int64, error) {
	if name == signing.DocName {
		value = m.strip(value)
	}
	return m.MetaStore.PutMeta(ctx, name, value, version)
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

// rewrite writes document name n times over itself, through edit if not
// nil: a node that changes nothing a reader would see (or one of the
// previous release), moving the version on.
func rewrite(t *testing.T, m sessiond.MetaStore, name string, n int, edit func([]byte) []byte) {
	t.Helper()
	ctx := context.Background()
	for range n {
		v, version, err := m.GetMeta(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		if edit != nil {
			v = edit(v)
		}
		if _, err := m.PutMeta(ctx, name, v, version); err != nil {
			t.Fatal(err)
		}
	}
}

// TestKeys_PreviousReleaseRewrite: during a rolling upgrade a node of the
// previous release rewrites the ring without its lineage, then a node of
// this one writes it (a rotation): the node that held the ring before the
// rewrite, or one started after it. The other nodes must take the write
// for a later change, not for a ring made anew on a store that lost its
// data: seen with real builds, every other node logged the loss and
// recorded store.reset_detected.
func TestKeys_PreviousReleaseRewrite(t *testing.T) {
	cases := []struct {
		name    string
		started bool // the writer started after the rewrite
	}{
		{"writer held the ring", false},
		{"writer started after the rewrite", true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			for _, ms := range metaStores(t) { // fresh data for each case
				t.Run(ms.name, func(t *testing.T) {
					ctx := context.Background()
					meta := ms.reopen(t)
					var resets atomic.Int32
					count := func(signing.Reset) { resets.Add(1) }
					a, b := openFor(t, meta, count), openFor(t, meta, count)
					rewrite(t, meta, signing.DocName, 1, previousRelease(t))
					sync0(t, ctx, a, b)
					nodes, writer := []*signing.Keys{a, b}, a
					if tc.started {
						writer = openFor(t, meta, count)
						nodes = append(nodes, writer)
					}
					if err := writer.Rotate(ctx); err != nil {
						t.Fatal(err)
					}
					sync0(t, ctx, nodes...)
					if got := resets.Load(); got != 0 {
						t.Errorf("OnReset calls = %d; want 0 (the ring was rotated, not lost)", got)
					}
					next := writer.Ring().Keys()[0].ID
					for i, k := range nodes {
						if got := k.Ring().Keys(); len(got) != 2 || got[0].ID != next {
							t.Errorf("node %d: keys %v; want the rotation's key %s first, and the signer", i, got, next)
						}
					}
				})
			}
		})
	}
}

// storedLineage returns the lineage of the stored ring and whether it is
// marked adopted.
func storedLineage(t *testing.T, m sessiond.MetaStore) (string, bool) {
	t.Helper()
	doc, _, err := m.GetMeta(context.Background(), signing.DocName)
	if err != nil {
		t.Fatal(err)
	}
	var s struct {
		Payload struct {
			Lineage string `json:"lineage"`
			Adopted bool   `json:"lineage_adopted"`
		} `json:"payload"`
	}
	if err := json.Unmarshal(doc, &s); err != nil {
		t.Fatal(err)
	}
	return s.Payload.Lineage, s.Payload.Adopted
}

// TestKeys_PreviousReleaseRingLost: a deployment upgraded from a release
// without lineages stores its ring without one and no node holds one. The
// first write of this release names it (adopted), so that a store that
// loses the ring later is still told by its lineage: here node c, started
// on the emptied store, changes its new ring past node a's version before
// a polls, and a must still take it for a loss and merge its keys back.
func TestKeys_PreviousReleaseRingLost(t *testing.T) {
	for _, ms := range metaStores(t) {
		t.Run(ms.name, func(t *testing.T) {
			ctx := context.Background()
			meta := sessiondtest.NewLosingMeta(ms.reopen(t))
			openFor(t, &previousReleaseMeta{MetaStore: meta, strip: previousRelease(t)}, nil) // the ring as the previous release made it
			var resets atomic.Int32
			a := openFor(t, meta, func(signing.Reset) { resets.Add(1) })
			if err := a.Rotate(ctx); err != nil {
				t.Fatal(err)
			}
			if lineage, adopted := storedLineage(t, meta); lineage == "" || !adopted {
				t.Errorf("stored ring after this release's write: lineage %q, adopted %v; want a lineage marked adopted", lineage, adopted)
			}
			before := sign(t, a)

			meta.Lose()
			c := openFor(t, meta, nil) // started on the empty store: makes a ring
			for range 3 {
				if err := c.RetireAll(ctx); err != nil {
					t.Fatal(err)
				}
			}
			sync0(t, ctx, a, c)
			if got := resets.Load(); got != 1 {
				t.Errorf("OnReset calls = %d; want 1 (the ring was lost)", got)
			}
			for i, k := range []*signing.Keys{a, c} {
				if _, err := codec(t, k).Verify(sessiond.KindAccess, before, t0); err != nil {
					t.Errorf("node %d: a token signed before the loss: %v", i, err)
				}
			}
		})
	}
}

// TestKeys_AdoptedLineage: a node holding the ring's lineage finds another
// one. Marked adopted at a later version, a node that never read the
// ring's lineage named it (TestKeys_PreviousReleaseRingLost): the same
// ring, adopted as it is and written on with that lineage. Unmarked, or at
// a version not past the node's, the store lost the ring.
func TestKeys_AdoptedLineage(t *testing.T) {
	const other = "22222222222222222222222222222222"
	cases := []struct {
		name    string
		adopted bool
		lose    bool // the other lineage is on an emptied store, below the node's version
		writes  int  // of the other lineage
		resets  int32
	}{
		{"adopted, later", true, false, 1, 0},
		{"adopted, far later", true, false, 4, 0},
		{"not adopted, later", false, false, 1, 1},
		{"adopted, earlier", true, true, 1, 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			for _, ms := range metaStores(t) { // fresh data for each case
				t.Run(ms.name, func(t *testing.T) {
					ctx := context.Background()
					meta := sessiondtest.NewLosingMeta(ms.reopen(t))
					var resets atomic.Int32
					a := openFor(t, meta, func(signing.Reset) { resets.Add(1) })
					for range 2 {
						if err := a.RetireAll(ctx); err != nil {
							t.Fatal(err)
						}
					}
					doc, _, err := meta.GetMeta(ctx, signing.DocName)
					if err != nil {
						t.Fatal(err)
					}
					renamed := func([]byte) []byte {
						var s map[string]json.RawMessage
						if err := json.Unmarshal(doc, &s); err != nil {
							t.Fatal(err)
						}
						var p map[string]any
						if err := json.Unmarshal(s["payload"], &p); err != nil {
							t.Fatal(err)
						}
						p["lineage"], p["generation"] = other, 1
						if tc.adopted {
							p["lineage_adopted"] = true
						}
						var err error
						if s["payload"], err = json.Marshal(p); err != nil {
							t.Fatal(err)
						}
						out, err := json.Marshal(s)
						if err != nil {
							t.Fatal(err)
						}
						return out
					}
					if tc.lose {
						meta.Lose()
						if _, err := meta.PutMeta(ctx, signing.DocName, renamed(nil), 0); err != nil {
							t.Fatal(err)
						}
						tc.writes--
					}
					rewrite(t, meta, signing.DocName, tc.writes, renamed)
					sync0(t, ctx, a)
					if got := resets.Load(); got != tc.resets {
						t.Errorf("OnReset calls = %d; want %d", got, tc.resets)
					}
					if tc.resets != 0 {
						return
					}
					if err := a.Rotate(ctx); err != nil {
						t.Fatal(err)
					}
					if lineage, adopted := storedLineage(t, meta); lineage != other || !adopted {
						t.Errorf("stored ring after the node's write: lineage %q, adopted %v; want %q adopted, kept", lineage, adopted, other)
					}
				})
			}
		})
	}
}
