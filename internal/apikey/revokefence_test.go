package apikey_test

import (
	"context"
	"errors"
	"testing"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/internal/apikey"
	"github.com/sessiond/sessiond/internal/testenv"
	"github.com/sessiond/sessiond/memstore"
)

// TestKeys_RevokeOrFence: a key found is revoked once; an ID no key has
// moves the set's version on (what stops a late Create of it) and adds
// nothing, also when the set is empty or not stored yet: the first
// Create ever made can linger as well (before, such a set was not written
// and that Create could still land live; TestKeys_RevokeOrFenceFirstCreate).
func TestKeys_RevokeOrFence(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name        string
		seed        bool   // a key set is stored
		empty       bool   // an empty key set is stored
		id          string // "": the seeded key's
		revokeFirst bool
		wantFound   bool
		wantChanged bool
		wantBump    bool // the set's version moves on
	}{
		{name: "live key", seed: true, wantFound: true, wantChanged: true, wantBump: true},
		{name: "revoked key", seed: true, revokeFirst: true, wantFound: true},
		{name: "unknown ID", seed: true, id: "key_nobodymadethis", wantBump: true},
		{name: "empty set stored", empty: true, id: "key_nobodymadethis", wantBump: true},
		{name: "no set stored", id: "key_nobodymadethis", wantBump: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st, k, id := fenceSet(t, tc.seed, tc.empty, tc.revokeFirst, tc.id)
			_, v0, err := st.GetMeta(ctx, apikey.DocName)
			if err != nil && (tc.seed || tc.empty) {
				t.Fatal(err)
			}
			before, _ := k.List(ctx)
			found, changed, err := k.RevokeOrFence(ctx, id)
			if err != nil || found != tc.wantFound || changed != tc.wantChanged {
				t.Fatalf("RevokeOrFence(%s) = %v, %v, %v; want %v, %v, nil", id, found, changed, err, tc.wantFound, tc.wantChanged)
			}
			after := checkFenced(t, st, k, "RevokeOrFence("+id+")", v0, before, tc.wantBump)
			for _, key := range after {
				if key.ID == id && key.RevokedAt.IsZero() {
					t.Errorf("key %s still live", id)
				}
			}
		})
	}
}

// TestKeys_RevokeOrFenceFirstCreate: the first key ever made (no set
// stored yet, or an empty one) whose write gave up with its outcome
// unknown is not live however late the write lands once RevokeOrFence
// answered that no key has its ID: apikey revoke's message says so.
func TestKeys_RevokeOrFenceFirstCreate(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name  string
		empty bool // an empty set is stored; else none
	}{
		{name: "no set stored"},
		{name: "empty set stored", empty: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st, _, _ := fenceSet(t, false, tc.empty, false, "")
			lost, secret, key := lingeringCreate(t, st)
			found, _, err := apikey.New(st, nil, 0).RevokeOrFence(ctx, key.ID)
			if err != nil || found {
				t.Fatalf("RevokeOrFence(%s) = found %v, %v; want not found", key.ID, found, err)
			}
			lost.Land()
			if _, err := apikey.New(st, nil, 0).Authenticate(ctx, secret); !errors.Is(err, apikey.ErrUnauthorized) {
				t.Errorf("Authenticate with the key after RevokeOrFence said no key has its ID = %v; want ErrUnauthorized (the late write landed)", err)
			}
		})
	}
}

// TestKeys_Fence: an ID no key has moves the set's version on (what stops
// a late Create of it) and adds nothing, also when no set is stored yet; an
// ID a key has writes nothing and is reported found, the key left as it
// is: Fence never revokes (the console fences where it has no typed
// confirmation).
func TestKeys_Fence(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name        string
		seed        bool   // a key set is stored
		id          string // "": the seeded key's
		revokeFirst bool
		wantFound   bool
		wantBump    bool // the set's version moves on
	}{
		{name: "live key", seed: true, wantFound: true},
		{name: "revoked key", seed: true, revokeFirst: true, wantFound: true},
		{name: "unknown ID", seed: true, id: "key_nobodymadethis", wantBump: true},
		{name: "no set stored", id: "key_nobodymadethis", wantBump: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st, k, id := fenceSet(t, tc.seed, false, tc.revokeFirst, tc.id)
			before, err := k.List(ctx)
			if err != nil {
				t.Fatal(err)
			}
			_, v0, _ := st.GetMeta(ctx, apikey.DocName)
			found, err := k.Fence(ctx, id)
			if err != nil || found != tc.wantFound {
				t.Fatalf("Fence(%s) = %v, %v; want %v, nil", id, found, err, tc.wantFound)
			}
			after := checkFenced(t, st, k, "Fence("+id+")", v0, before, tc.wantBump)
			for i := range after {
				if !after[i].RevokedAt.Equal(before[i].RevokedAt) {
					t.Errorf("key %s revoked at %v after Fence; want %v (as before)", after[i].ID, after[i].RevokedAt, before[i].RevokedAt)
				}
			}
		})
	}
}

// TestKeys_FenceLateCreate: a Create whose write gave up, fenced by an ID
// no key has, cannot land live afterwards.
func TestKeys_FenceLateCreate(t *testing.T) {
	ctx := context.Background()
	st, _, _ := fenceSet(t, true, false, false, "")
	lost, secret, key := lingeringCreate(t, st)
	if found, err := apikey.New(st, nil, 0).Fence(ctx, key.ID); err != nil || found {
		t.Fatalf("Fence(%s) = %v, %v; want not found", key.ID, found, err)
	}
	lost.Land()
	if _, err := apikey.New(st, nil, 0).Authenticate(ctx, secret); !errors.Is(err, apikey.ErrUnauthorized) {
		t.Errorf("Authenticate with the key after Fence said no key has its ID = %v; want ErrUnauthorized (the late write landed)", err)
	}
}

// checkFenced checks what RevokeOrFence and Fence share, after call: the
// set's version moved on from v0 as wantBump says, and the set holds as
// many keys as before (the fence adds none). It returns the keys.
func checkFenced(t *testing.T, st *memstore.Store, k *apikey.Keys, call string, v0 int64, before []apikey.Key, wantBump bool) []apikey.Key {
	t.Helper()
	_, v1, _ := st.GetMeta(t.Context(), apikey.DocName)
	if got := v1 != v0; got != wantBump {
		t.Errorf("set version %d -> %d after %s; want moved on: %v", v0, v1, call, wantBump)
	}
	after, err := k.List(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if len(after) != len(before) {
		t.Fatalf("%d keys after %s; want the %d before", len(after), call, len(before))
	}
	return after
}

// fenceSet returns a memory store holding a key set as the fence tests
// ask (empty: an empty set stored; seed: one key made, revoked with
// revokeFirst; neither: none stored), its Keys, and id, or the made key's
// ID when id is "".
func fenceSet(t *testing.T, seed, empty, revokeFirst bool, id string) (*memstore.Store, *apikey.Keys, string) {
	t.Helper()
	ctx := t.Context()
	st := memstore.New()
	t.Cleanup(func() { st.Close() })
	k := apikey.New(st, nil, 0)
	if empty {
		if _, err := st.PutMeta(ctx, apikey.DocName, []byte(`{"keys":[]}`), 0); err != nil {
			t.Fatal(err)
		}
	}
	if seed {
		_, key, err := k.Create(ctx, "seed")
		if err != nil {
			t.Fatal(err)
		}
		if id == "" {
			id = key.ID
		}
		if revokeFirst {
			if err := k.Revoke(ctx, id); err != nil {
				t.Fatal(err)
			}
		}
	}
	return st, k, id
}

// lingeringCreate makes a key on st whose write gives up with its outcome
// unknown and lands when the returned LingeringMeta's Land is called.
func lingeringCreate(t *testing.T, st *memstore.Store) (*testenv.LingeringMeta, sessiond.Secret, apikey.Key) {
	t.Helper()
	lost := &testenv.LingeringMeta{MetaStore: st, Doc: apikey.DocName}
	lost.Arm()
	secret, key, err := apikey.New(lost, nil, 0).Create(t.Context(), "victim")
	if err == nil || key.ID == "" {
		t.Fatalf("Create = %v, %q; want its write lost with the key", err, key.ID)
	}
	return lost, secret, key
}
