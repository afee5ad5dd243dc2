package apikey_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/internal/apikey"
)

// seedRaceMeta runs before once, between the first read of the key set
// and its first write: another node's seed landing in that window.
type seedRaceMeta struct {
	sessiond.MetaStore
	once   sync.Once
	before func(ctx context.Context)
}

func (m *seedRaceMeta) PutMeta(ctx context.Context, name string, value []byte, version int64) (int64, error) {
	if name == apikey.DocName && m.before != nil {
		m.once.Do(func() { m.before(ctx) })
	}
	return m.MetaStore.PutMeta(ctx, name, value, version)
}

// TestKeys_Seed: Seed makes a key only in a set without a live one, and
// checks that in the compare-and-swap that writes it: a key another node
// seeded between this node's read and its write is found there, this
// node's key is not added, and the live key is returned with
// ErrHasLiveKey. A set holding only revoked keys is seeded.
func TestKeys_Seed(t *testing.T) {
	// Each case prepares the fresh store (its other node's keys on meta)
	// and returns what runs between the seed's read and its write (nil:
	// nothing) and the ID of the live key the seed must find, read once
	// the seed returned ("": it must make one).
	cases := []struct {
		name    string
		prepare func(t *testing.T, other *apikey.Keys) (between func(context.Context), live func() string)
	}{
		{"empty store", func(*testing.T, *apikey.Keys) (func(context.Context), func() string) {
			return nil, func() string { return "" }
		}},
		{"only revoked keys", func(t *testing.T, other *apikey.Keys) (func(context.Context), func() string) {
			_, k, err := other.Create(t.Context(), "old", apikey.ScopeAdmin)
			if err != nil {
				t.Fatal(err)
			}
			if err := other.Revoke(t.Context(), k.ID); err != nil {
				t.Fatal(err)
			}
			return nil, func() string { return "" }
		}},
		{"a live key", func(t *testing.T, other *apikey.Keys) (func(context.Context), func() string) {
			_, k, err := other.Create(t.Context(), "ops", apikey.ScopeAdmin)
			if err != nil {
				t.Fatal(err)
			}
			return nil, func() string { return k.ID }
		}},
		{"another node seeds meanwhile", func(t *testing.T, other *apikey.Keys) (func(context.Context), func() string) {
			var id string
			return func(ctx context.Context) {
				_, k, err := other.Seed(ctx, "generated", apikey.ScopeAdmin)
				if err != nil {
					t.Errorf("the other node's Seed = %v; want nil", err)
				}
				id = k.ID
			}, func() string { return id }
		}},
	}
	for _, st := range resetStores {
		for _, tc := range cases {
			t.Run(st.name+"/"+tc.name, func(t *testing.T) {
				ctx := t.Context()
				meta := st.open(t)
				between, live := tc.prepare(t, apikey.New(meta, nil, time.Second))
				keys := apikey.New(&seedRaceMeta{MetaStore: meta, before: between}, nil, time.Second)
				secret, key, err := keys.Seed(ctx, "generated", apikey.ScopeAdmin)
				want := live()
				if want != "" {
					if !errors.Is(err, apikey.ErrHasLiveKey) || secret != "" || key.ID != want || key.Hash != "" {
						t.Fatalf("Seed with live key %s = %q, %+v, %v; want no secret, that key without its hash, ErrHasLiveKey", want, secret, key, err)
					}
				} else if err != nil || secret == "" || key.ID == "" {
					t.Fatalf("Seed = %q, %+v, %v; want a new key", secret, key, err)
				}
				list, err := apikey.New(meta, nil, time.Second).List(ctx)
				if err != nil {
					t.Fatal(err)
				}
				var ids []string
				for _, k := range list {
					if k.RevokedAt.IsZero() {
						ids = append(ids, k.ID)
					}
				}
				if want == "" {
					want = key.ID
				}
				if len(ids) != 1 || ids[0] != want {
					t.Errorf("live keys after Seed = %v; want only %s", ids, want)
				}
				if want == key.ID && secret != "" {
					if got, err := keys.Authenticate(ctx, secret); err != nil || got.ID != key.ID || !got.Allows(apikey.ScopeAdmin) {
						t.Errorf("Authenticate(seeded key) = %+v, %v; want admin key %s", got, err, key.ID)
					}
				}
			})
		}
	}
}

// TestKeys_SeedSecret_Again: SeedSecret with a secret whose key is live
// already (a write whose answer was lost, that landed) returns that key
// and writes nothing: the set's version stays, so no node reloads it for
// nothing. Before, it rewrote the set unchanged but for its version.
func TestKeys_SeedSecret_Again(t *testing.T) {
	for _, st := range resetStores {
		t.Run(st.name, func(t *testing.T) {
			ctx := t.Context()
			meta := st.open(t)
			keys := apikey.New(meta, nil, time.Second)
			secret, err := apikey.NewSecret()
			if err != nil {
				t.Fatal(err)
			}
			first, err := keys.SeedSecret(ctx, "generated", secret, apikey.ScopeAdmin)
			if err != nil {
				t.Fatalf("SeedSecret = %v; want nil", err)
			}
			_, before, err := meta.GetMeta(ctx, apikey.DocName)
			if err != nil {
				t.Fatal(err)
			}
			again, err := keys.SeedSecret(ctx, "generated", secret, apikey.ScopeAdmin)
			if err != nil || again.ID != first.ID {
				t.Errorf("SeedSecret again = %+v, %v; want key %s, nil", again, err, first.ID)
			}
			if _, after, err := meta.GetMeta(ctx, apikey.DocName); err != nil || after != before {
				t.Errorf("key set version after SeedSecret of a live secret = %d, %v; want %d (unchanged)", after, err, before)
			}
		})
	}
}
