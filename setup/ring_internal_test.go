package setup

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/jwttoken"
	"github.com/sessiond/sessiond/jwttoken/signing"
	"github.com/sessiond/sessiond/memstore"
	"github.com/sessiond/sessiond/sessiondtest"
)

// In the hybrid strategy (New's default) the ring signs only access
// tokens, so a retired key is pruned once every access token it signed has
// expired (docs/jwt.md), not a refresh lifetime (30 days with b2c) later.
func TestOpenRing_HybridPrunesRetiredKeysAfterTheAccessLifetime(t *testing.T) {
	ctx := context.Background()
	clock := sessiondtest.NewClock(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC))
	life, _ := sessiond.Preset(sessiond.PresetB2C)
	mo := sessiond.Options{Strategy: sessiond.StrategyHybrid, Lifetimes: life, Clock: clock}
	st := memstore.New()
	ring, keys, err := openRing(ctx, st, Options{Keys: signing.Options{PublishFor: -1}}, mo, slog.New(slog.DiscardHandler), func(bool) {})
	if err != nil {
		t.Fatal(err)
	}
	defer closeKeys(keys)
	if got := ring.MaxTokenLifetime(); got > life.Access {
		t.Errorf("hybrid ring MaxTokenLifetime = %s; want the access lifetime %s (docs/jwt.md)", got, life.Access)
	}

	// What it means: rotate, move past every access token the old key
	// signed, prune; the old key still verifies.
	old := ring.Keys()[0].ID
	if err := keys.Rotate(ctx); err != nil {
		t.Fatal(err)
	}
	clock.Advance(life.Access + jwttoken.MaxLeeway + time.Minute)
	if err := keys.Maintain(ctx); err != nil {
		t.Fatal(err)
	}
	for _, k := range keys.Ring().Keys() {
		if k.ID == old {
			t.Errorf("retired key %s still in the ring %s after retirement, when no access token it signed can be alive", old, life.Access+jwttoken.MaxLeeway+time.Minute)
		}
	}
}
