package apikey_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/internal/apikey"
	"github.com/sessiond/sessiond/internal/testenv"
	"github.com/sessiond/sessiond/memstore"
	"github.com/sessiond/sessiond/sessiondtest"
)

// racedMeta runs race, once armed, right before the next write of the key
// set: another node's write landing between this node's read and its
// compare-and-swap, which then loses.
type racedMeta struct {
	*memstore.Store
	mu   sync.Mutex
	race func()
}

func (m *racedMeta) PutMeta(ctx context.Context, name string, value []byte, version int64) (int64, error) {
	m.mu.Lock()
	race := m.race
	m.race = nil
	m.mu.Unlock()
	if race != nil && name == apikey.DocName {
		race()
	}
	return m.Store.PutMeta(ctx, name, value, version)
}

func (m *racedMeta) arm(race func()) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.race = race
}

// TestKeys_RevokeUnreceived: a key whose creation failed with its outcome
// unknown ends up revoked, once, whatever else writes the set meanwhile:
// not stored (added revoked, so the late write loses its compare-and-swap),
// stored, revoked already, and with another node's write of the set
// (the late creation landing, a revocation, another key) between this
// call's read and its write. stored and changed say what it found and did
// on its last try, not on one that lost.
func TestKeys_RevokeUnreceived(t *testing.T) {
	ctx := context.Background()
	clock := sessiondtest.NewClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	for _, tc := range []struct {
		name string
		// race, when set, runs on another node right before this call's
		// first write; land says the lost creation lands then.
		race                func(t *testing.T, other *apikey.Keys, key apikey.Key)
		land                bool
		landBefore          bool // the lost creation lands before the call
		revokedBefore       bool // and is revoked before the call
		wantStored, changed bool
	}{
		{name: "not stored", wantStored: false, changed: true},
		{name: "stored", landBefore: true, wantStored: true, changed: true},
		{name: "stored, revoked already", landBefore: true, revokedBefore: true, wantStored: true, changed: false},
		{name: "creation lands between read and write", land: true, wantStored: true, changed: true},
		{name: "another key created between read and write", race: func(t *testing.T, other *apikey.Keys, _ apikey.Key) {
			if _, _, err := other.Create(ctx, "other"); err != nil {
				t.Fatal(err)
			}
		}, wantStored: false, changed: true},
		{name: "revoked by another node between read and write", landBefore: true, race: func(t *testing.T, other *apikey.Keys, key apikey.Key) {
			if err := other.Revoke(ctx, key.ID); err != nil {
				t.Fatal(err)
			}
		}, wantStored: true, changed: false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			base := memstore.New()
			lost := &testenv.LingeringMeta{MetaStore: base, Doc: apikey.DocName}
			lost.Arm()
			secret, key, err := apikey.New(lost, clock, time.Second).Create(ctx, "victim")
			if !errors.Is(err, sessiond.ErrStoreUnavailable) || key.ID == "" {
				t.Fatalf("Create = %v, %q; want its write lost with the key", err, key.ID)
			}
			other := apikey.New(base, clock, time.Second)
			if tc.landBefore {
				lost.Land()
				if tc.revokedBefore {
					if err := other.Revoke(ctx, key.ID); err != nil {
						t.Fatal(err)
					}
				}
			}
			raced := &racedMeta{Store: base}
			switch {
			case tc.land:
				raced.arm(lost.Land)
			case tc.race != nil:
				raced.arm(func() { tc.race(t, other, key) })
			}
			stored, changed, err := apikey.New(raced, clock, time.Second).RevokeUnreceived(ctx, key)
			if err != nil {
				t.Fatalf("RevokeUnreceived = %v", err)
			}
			if stored != tc.wantStored || changed != tc.changed {
				t.Errorf("RevokeUnreceived = stored %v, changed %v; want %v, %v", stored, changed, tc.wantStored, tc.changed)
			}
			if !tc.landBefore && !tc.land {
				lost.Land() // the late creation lands now, if ever
			}
			keys, err := other.List(ctx)
			if err != nil {
				t.Fatal(err)
			}
			found := 0
			for _, k := range keys {
				if k.ID == key.ID {
					found++
					if k.RevokedAt.IsZero() {
						t.Errorf("key %s is live after RevokeUnreceived", k.ID)
					}
				}
			}
			if found != 1 {
				t.Errorf("key %s is in the set %d times; want once", key.ID, found)
			}
			if _, err := other.Authenticate(ctx, secret); !errors.Is(err, apikey.ErrUnauthorized) {
				t.Errorf("Authenticate with the key nobody received = %v; want ErrUnauthorized", err)
			}
		})
	}
}
