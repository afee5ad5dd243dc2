package apikey_test

import (
	"context"
	"testing"

	"github.com/sessiond/sessiond/internal/apikey"
	"github.com/sessiond/sessiond/memstore"
)

// TestKeys_RevokeOrFence: a key found is revoked once; an ID no key has
// moves the set's version on (what stops a late Create of it) and adds
// nothing; a store with no key set at all is not written.
func TestKeys_RevokeOrFence(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name        string
		seed        bool   // a key set is stored
		id          string // "": the seeded key's
		revokeFirst bool
		wantFound   bool
		wantChanged bool
		wantBump    bool // the set's version moves on
	}{
		{name: "live key", seed: true, wantFound: true, wantChanged: true, wantBump: true},
		{name: "revoked key", seed: true, revokeFirst: true, wantFound: true},
		{name: "unknown ID", seed: true, id: "key_nobodymadethis", wantBump: true},
		{name: "no set stored", id: "key_nobodymadethis"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := memstore.New()
			defer st.Close()
			k := apikey.New(st, nil, 0)
			id := tc.id
			if tc.seed {
				_, key, err := k.Create(ctx, "seed")
				if err != nil {
					t.Fatal(err)
				}
				if id == "" {
					id = key.ID
				}
				if tc.revokeFirst {
					if err := k.Revoke(ctx, id); err != nil {
						t.Fatal(err)
					}
				}
			}
			_, v0, err := st.GetMeta(ctx, apikey.DocName)
			if err != nil && tc.seed {
				t.Fatal(err)
			}
			before, _ := k.List(ctx)
			found, changed, err := k.RevokeOrFence(ctx, id)
			if err != nil || found != tc.wantFound || changed != tc.wantChanged {
				t.Fatalf("RevokeOrFence(%s) = %v, %v, %v; want %v, %v, nil", id, found, changed, err, tc.wantFound, tc.wantChanged)
			}
			_, v1, _ := st.GetMeta(ctx, apikey.DocName)
			if got := v1 != v0; got != tc.wantBump {
				t.Errorf("set version %d -> %d; want moved on: %v", v0, v1, tc.wantBump)
			}
			after, err := k.List(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if len(after) != len(before) {
				t.Errorf("%d keys after RevokeOrFence(%s); want the %d before", len(after), id, len(before))
			}
			for _, key := range after {
				if key.ID == id && key.RevokedAt.IsZero() {
					t.Errorf("key %s still live", id)
				}
			}
		})
	}
}
