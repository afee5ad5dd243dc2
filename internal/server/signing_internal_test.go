package server

import (
	"context"
	"log/slog"
	"testing"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/internal/config"
	"github.com/sessiond/sessiond/memstore"
)

// A retired signing key verifies for the ring's MaxTokenLifetime after it
// is retired: in hybrid the ring signs only access tokens (its refresh
// tokens are opaque), so a key rotated because it may have leaked must
// stop verifying an access lifetime later, not a refresh lifetime (30 days
// with b2c).
func TestBuildManager_RingKeepsRetiredKeysForTheSignedLifetime(t *testing.T) {
	for _, tc := range []struct {
		strategy sessiond.Strategy
		want     func(sessiond.Lifetimes) any
	}{
		{sessiond.StrategyHybrid, func(l sessiond.Lifetimes) any { return l.Access }},
		{sessiond.StrategyJWT, func(l sessiond.Lifetimes) any { return l.Refresh }},
	} {
		t.Run(string(tc.strategy), func(t *testing.T) {
			cfg := config.Default() // b2c
			cfg.Strategy = tc.strategy
			st := memstore.New()
			o := Options{Config: cfg, Getenv: func(string) string { return "" }}
			mgr, keys, err := buildManager(context.Background(), cfg, o, st, st, slog.New(slog.DiscardHandler), func(*sessiond.Options) {}, nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer mgr.Close()
			defer keys.Close()
			life, err := cfg.Lifetimes()
			if err != nil {
				t.Fatal(err)
			}
			if got, want := keys.Ring().MaxTokenLifetime(), tc.want(life); got != want {
				t.Errorf("%s: retired signing keys verify for %s after retirement; want %s", tc.strategy, got, want)
			}
		})
	}
}
