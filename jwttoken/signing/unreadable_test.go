package signing_test

import (
	"bytes"
	"context"
	"errors"
	"sync/atomic"
	"testing"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/jwttoken/signing"
	"github.com/sessiond/sessiond/memstore"
	"github.com/sessiond/sessiond/sessiondtest"
)

// downMeta fails every read while down is set: a store that does not
// answer for a moment.
type downMeta struct {
	sessiond.MetaStore
	down atomic.Bool
}

func (m *downMeta) GetMeta(ctx context.Context, name string) ([]byte, int64, error) {
	if m.down.Load() {
		return nil, 0, sessiond.ErrStoreUnavailable
	}
	return m.MetaStore.GetMeta(ctx, name)
}

// TestKeys_NotReadyWhileRingUnreadable: a node that can no longer read the
// stored ring (resealed with a KEK it is not given, or a document it
// cannot decode) keeps its keys but misses every later change, a kill
// switch included: Ready fails, naming why, from its first read of that
// ring (a poll, or the maintenance a scheduled rotation rides on) until a
// read succeeds again. A store that does not answer is not this (the
// store's Ping covers it).
func TestKeys_NotReadyWhileRingUnreadable(t *testing.T) {
	ctx := context.Background()
	mine, other := newKEK(t), newKEK(t)
	cases := []struct {
		name string
		// spoil makes the stored ring one the node (given the KEK mine)
		// cannot read; mend makes it readable again, good being the
		// document stored before spoil.
		spoil func(t *testing.T, meta *downMeta)
		mend  func(t *testing.T, meta *downMeta, good []byte)
		// unready: Ready fails in between, matching ErrRingUnreadable
		// and, if set, wantIs.
		unready bool
		wantIs  error
	}{
		{
			name: "resealed with a KEK the node lacks",
			spoil: func(t *testing.T, meta *downMeta) {
				if _, err := openKEK(ctx, meta, other, mine); err != nil { // reseals with other
					t.Fatal(err)
				}
			},
			mend: func(t *testing.T, meta *downMeta, _ []byte) {
				if _, err := openKEK(ctx, meta, mine, other); err != nil { // reseals with mine
					t.Fatal(err)
				}
			},
			unready: true, wantIs: signing.ErrKEKRequired,
		},
		{
			name: "a document it cannot decode",
			spoil: func(t *testing.T, meta *downMeta) {
				rewrite(t, meta, signing.DocName, 1, func([]byte) []byte { return []byte(`{"format": 9}`) })
			},
			mend: func(t *testing.T, meta *downMeta, good []byte) {
				rewrite(t, meta, signing.DocName, 1, func([]byte) []byte { return good })
			},
			unready: true,
		},
		{
			name:  "the store does not answer",
			spoil: func(t *testing.T, meta *downMeta) { meta.down.Store(true) },
			mend:  func(t *testing.T, meta *downMeta, _ []byte) { meta.down.Store(false) },
		},
	}
	notice := map[string]func(*signing.Keys) error{
		"sync":     func(k *signing.Keys) error { return k.Sync(ctx) },
		"maintain": func(k *signing.Keys) error { return k.Maintain(ctx) },
	}
	for _, tc := range cases {
		for how, read := range notice {
			t.Run(tc.name+"/"+how, func(t *testing.T) {
				meta := &downMeta{MetaStore: metaStores(t)[1].reopen(t)} // sqlite
				k, err := openKEK(ctx, meta, mine)
				if err != nil {
					t.Fatal(err)
				}
				good, signer := stored(t, meta), currentKid(t, k)

				tc.spoil(t, meta)
				for i := range 2 { // a second read of the same ring changes nothing
					if err := read(k); err == nil {
						t.Fatalf("%s %d of a ring the node cannot read = nil; want the error", how, i)
					}
					err = k.Ready()
					switch {
					case !tc.unready && err != nil:
						t.Errorf("Ready = %v; want nil (the store's Ping says it does not answer)", err)
					case tc.unready && !errors.Is(err, signing.ErrRingUnreadable):
						t.Errorf("Ready after %s %d of a ring it cannot open = %v; want ErrRingUnreadable", how, i, err)
					case tc.wantIs != nil && !errors.Is(err, tc.wantIs):
						t.Errorf("Ready = %v; want it to match %v", err, tc.wantIs)
					}
				}
				if got := currentKid(t, k); got != signer {
					t.Errorf("signer while unreadable = %s; want the one held, %s", got, signer)
				}

				tc.mend(t, meta, good)
				if err := read(k); err != nil {
					t.Fatalf("%s once the ring is readable again = %v", how, err)
				}
				if err := k.Ready(); err != nil {
					t.Errorf("Ready once the ring is readable again = %v; want nil", err)
				}
			})
		}
	}
}

// TestKeys_NotReadyUntilGivenTheKEK: a node without the KEK another node
// sealed the ring with is not ready, and publishes no JWKS: the kill
// switch run on the other node dropped a key it still holds. The same
// node restarted with that KEK, even only as an old one, opens the ring,
// is ready and publishes the ring without the dropped key.
func TestKeys_NotReadyUntilGivenTheKEK(t *testing.T) {
	ctx := context.Background()
	meta := metaStores(t)[1].reopen(t) // sqlite
	kek := newKEK(t)
	b, a, dropped := killedWhileUnreadable(t, meta, nil, kek)
	if err := b.Ready(); !errors.Is(err, signing.ErrRingUnreadable) || !errors.Is(err, signing.ErrKEKRequired) {
		t.Fatalf("Ready = %v; want ErrRingUnreadable and ErrKEKRequired", err)
	}
	if doc, err := b.JWKS(); !errors.Is(err, signing.ErrRingUnreadable) {
		t.Errorf("JWKS of the node that cannot read the ring = %s, %v; want ErrRingUnreadable", doc, err)
	}
	if err := a.Ready(); err != nil {
		t.Errorf("Ready of the node that sealed it = %v; want nil", err)
	}
	for _, restart := range []struct {
		name string
		kek  *signing.KEK
		old  []*signing.KEK
	}{{"as the KEK", kek, nil}, {"as an old KEK", nil, []*signing.KEK{kek}}} {
		restarted, err := openKEK(ctx, meta, restart.kek, restart.old...)
		if err != nil {
			t.Fatalf("restart with the KEK %s: %v", restart.name, err)
		}
		if err := restarted.Sync(ctx); err != nil {
			t.Errorf("restart with the KEK %s: Sync = %v", restart.name, err)
		}
		if err := restarted.Ready(); err != nil {
			t.Errorf("restart with the KEK %s: Ready = %v; want nil", restart.name, err)
		}
		if doc, err := restarted.JWKS(); err != nil || bytes.Contains(doc, []byte(dropped)) {
			t.Errorf("restart with the KEK %s: JWKS = %s, %v; want it without the dropped key %s", restart.name, doc, err, dropped)
		}
	}
}

// TestKeys_NoSigningWhileRingUnreadable: a node that cannot read the
// stored ring may still hold a key the kill switch dropped elsewhere, and
// a direct caller (one that does not ask /readyz first, the library) would
// get tokens, and Security Event Tokens, that every other node refuses and
// that it alone accepts. It signs nothing meanwhile: Sign and SignJWS fail
// with an error matching ErrRingUnreadable and sessiond.ErrStoreUnavailable
// (nothing was decided: retry, on another node). It still verifies with
// the keys it holds, so the users it served are not logged out. Once it
// reads the ring again it signs again.
func TestKeys_NoSigningWhileRingUnreadable(t *testing.T) {
	ctx := context.Background()
	mine, other := newKEK(t), newKEK(t)
	meta := metaStores(t)[0].reopen(t) // memory
	k, err := openKEK(ctx, meta, mine)
	if err != nil {
		t.Fatal(err)
	}
	c := codec(t, k)
	held := sign(t, k)

	if _, err := openKEK(ctx, meta, other, mine); err != nil { // reseals with other
		t.Fatal(err)
	}
	if err := k.Sync(ctx); !errors.Is(err, signing.ErrRingUnreadable) {
		t.Fatalf("Sync of a ring sealed with a KEK the node lacks = %v; want ErrRingUnreadable", err)
	}
	signs := map[string]func() error{
		"Sign": func() error { _, err := c.Sign(sessiond.KindAccess, claims(t0)); return err },
		"SignJWS": func() error {
			_, err := k.Ring().SignJWS(t0, "secevent+jwt", []byte(`{"iss":"i"}`))
			return err
		},
	}
	for name, fn := range signs {
		if err := fn(); !errors.Is(err, signing.ErrRingUnreadable) || !errors.Is(err, sessiond.ErrStoreUnavailable) {
			t.Errorf("%s while the ring is unreadable = %v; want ErrRingUnreadable and ErrStoreUnavailable", name, err)
		}
	}
	if _, err := c.Verify(sessiond.KindAccess, held, t0); err != nil {
		t.Errorf("Verify of a token the node signed before, while the ring is unreadable = %v; want it verified", err)
	}

	if _, err := openKEK(ctx, meta, mine, other); err != nil { // reseals with mine
		t.Fatal(err)
	}
	if err := k.Sync(ctx); err != nil {
		t.Fatalf("Sync once the ring is readable again = %v", err)
	}
	for name, fn := range signs {
		if err := fn(); err != nil {
			t.Errorf("%s once the ring is readable again = %v; want it signed", name, err)
		}
	}
}

// TestKeys_UnreadableNodeWritesNothingBack: a node that cannot read the
// stored ring holds keys that may be out of date: the kill switch may have
// dropped one. When the store then loses its data it must not write that
// ring back, as a node that read the ring last does (Reset): it would put
// the dropped key back in the store, in clear, publish it and sign with it
// again, ready, and a node with the KEK started afterwards would adopt it
// as the signer. It stays not ready and writes nothing; a node that can
// read the ring writes the cluster's back; a ring made anew on the empty
// store, which it can read, it adopts without merging its keys into it.
func TestKeys_UnreadableNodeWritesNothingBack(t *testing.T) {
	ctx := context.Background()
	cases := []struct {
		name string
		// after the loss, before the stale node reads the store again:
		// what the other nodes do; want is whether the stale node is
		// ready afterwards.
		then func(t *testing.T, meta sessiond.MetaStore, kek *signing.KEK)
		want bool
	}{
		{"nothing", func(*testing.T, sessiond.MetaStore, *signing.KEK) {}, false},
		{"a node with the KEK writes the ring back", func(t *testing.T, meta sessiond.MetaStore, kek *signing.KEK) {
			if _, err := openKEK(ctx, meta, kek); err != nil {
				t.Fatal(err)
			}
		}, false},
		{"a node without a KEK makes a new ring", func(t *testing.T, meta sessiond.MetaStore, _ *signing.KEK) {
			if _, err := openKEK(ctx, meta, nil); err != nil {
				t.Fatal(err)
			}
		}, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			meta := sessiondtest.NewLosingMeta(memstore.New())
			kek := newKEK(t)
			stale, _, dropped := killedWhileUnreadable(t, meta, nil, kek)

			meta.Lose()
			if err := stale.Sync(ctx); !errors.Is(err, signing.ErrRingUnreadable) {
				t.Errorf("Sync of the stale node on a store that lost the ring = %v; want ErrRingUnreadable", err)
			}
			if _, _, err := meta.GetMeta(ctx, signing.DocName); !errors.Is(err, sessiond.ErrNotFound) {
				t.Fatalf("the stale node wrote its ring back (GetMeta = %v); want nothing written", err)
			}
			tc.then(t, meta, kek)
			for i := range 2 {
				err := stale.Sync(ctx)
				if ready := stale.Ready() == nil; ready != tc.want || (err == nil) != tc.want {
					t.Errorf("read %d after the loss: Sync = %v, Ready = %v; want ready %v", i, err, stale.Ready(), tc.want)
				}
			}
			if doc, _, err := meta.GetMeta(ctx, signing.DocName); err == nil && bytes.Contains(doc, []byte(dropped)) {
				t.Errorf("the stored ring holds the key the kill switch dropped, %s", dropped)
			}
			if doc, err := stale.JWKS(); err == nil && bytes.Contains(doc, []byte(dropped)) {
				t.Errorf("the stale node publishes the key the kill switch dropped, %s", dropped)
			}
			if _, err := stale.Ring().SignJWS(t0, "secevent+jwt", []byte(`{}`)); (err == nil) != tc.want {
				t.Errorf("SignJWS on the stale node = %v; want it to sign only once ready (%v)", err, tc.want)
			}
			if b, err := openKEK(ctx, meta, kek); err == nil && currentKid(t, b) == dropped {
				t.Errorf("a node with the KEK started now signs with the key the kill switch dropped")
			}
		})
	}
}

// TestKeys_HeldUntilTheReadRingIsAdopted: a node that could not read the
// stored ring signs again only once the ring it holds is the stored one.
// Reading the ring again is not enough: a change it then makes itself
// (Rotate, RetireAll, Maintain's scheduled rotation) writes before it
// adopts, and a write that fails (the store refusing writes, a timeout)
// left it signing, and publishing, with its out-of-date ring, a key the
// kill switch dropped included, until its next poll.
func TestKeys_HeldUntilTheReadRingIsAdopted(t *testing.T) {
	ctx := context.Background()
	mine, other := newKEK(t), newKEK(t)
	meta := &readOnlyMeta{MetaStore: memstore.New()}
	stale, _, dropped := killedWhileUnreadable(t, meta, mine, other, mine)
	if _, err := openKEK(ctx, meta, mine, other); err != nil { // reseals with mine: readable again
		t.Fatal(err)
	}

	meta.on.Store(true)
	if err := stale.Rotate(ctx); err == nil {
		t.Fatal("Rotate on a store refusing writes = nil; want an error")
	}
	c := codec(t, stale)
	if _, err := c.Sign(sessiond.KindAccess, claims(t0)); err == nil {
		if kid := currentKid(t, stale); kid == dropped {
			t.Errorf("after a failed write, the node signs with %s, the key the kill switch dropped; want signing held until it adopts the stored ring", kid)
		}
	} else if !errors.Is(err, signing.ErrRingUnreadable) {
		t.Errorf("Sign after a failed write = %v; want ErrRingUnreadable while held", err)
	}
	if doc, err := stale.JWKS(); err == nil && bytes.Contains(doc, []byte(dropped)) {
		t.Errorf("after a failed write, the node publishes %s, the key the kill switch dropped", dropped)
	}
	if err := stale.Ready(); !errors.Is(err, signing.ErrRingUnreadable) {
		t.Errorf("Ready after a failed write = %v; want ErrRingUnreadable until the stored ring is adopted", err)
	}

	meta.on.Store(false)
	if err := stale.Sync(ctx); err != nil {
		t.Fatalf("Sync once the store takes writes = %v", err)
	}
	if err := stale.Ready(); err != nil {
		t.Errorf("Ready once the stored ring is adopted = %v; want nil", err)
	}
	if _, err := c.Sign(sessiond.KindAccess, claims(t0)); err != nil {
		t.Errorf("Sign once the stored ring is adopted = %v; want it signed", err)
	}
	if kid := currentKid(t, stale); kid == dropped {
		t.Errorf("the node signs with %s, the key the kill switch dropped", kid)
	}
}

// killedWhileUnreadable opens a node on meta with kek (nil: none), then
// another node that seals the ring with sealer (opening it with olds) and
// runs the kill switch, which drops the first node's signing key; the
// first node's Sync then finds the ring unreadable (a KEK it lacks). It
// returns the first node, the other, and the kid the kill switch dropped.
func killedWhileUnreadable(t *testing.T, meta sessiond.MetaStore, kek, sealer *signing.KEK, olds ...*signing.KEK) (stale, other *signing.Keys, dropped string) {
	t.Helper()
	ctx := context.Background()
	stale, err := openKEK(ctx, meta, kek)
	if err != nil {
		t.Fatal(err)
	}
	dropped = currentKid(t, stale)
	if other, err = openKEK(ctx, meta, sealer, olds...); err != nil { // seals the ring with sealer
		t.Fatal(err)
	}
	if err := other.RetireAll(ctx); err != nil { // the kill switch
		t.Fatal(err)
	}
	if err := stale.Sync(ctx); !errors.Is(err, signing.ErrRingUnreadable) || !errors.Is(err, signing.ErrKEKRequired) {
		t.Fatalf("Sync of a ring sealed with a KEK the node lacks = %v; want ErrRingUnreadable and ErrKEKRequired", err)
	}
	return stale, other, dropped
}
