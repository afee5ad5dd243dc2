package server

import (
	"context"
	"log/slog"
	"testing"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/internal/config"
	"github.com/sessiond/sessiond/internal/httpapi"
	"github.com/sessiond/sessiond/memstore"
)

// withoutPager is a memory store that hides its RevocationPager.
type withoutPager struct {
	sessiond.Store
	sessiond.EventLog
	sessiond.MetaStore
}

// TestAttachRevocationStream_Pages: the snapshot reads a store that can a
// page at a time (RevocationStream.Page), and one that cannot whole.
func TestAttachRevocationStream_Pages(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name  string
		store func() sessiond.Store
		paged bool
	}{
		{"RevocationPager", func() sessiond.Store { return memstore.New() }, true},
		{"Without", func() sessiond.Store { m := memstore.New(); return withoutPager{m, m, m} }, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := tc.store()
			cfg := config.Default()
			cfg.Strategy = sessiond.StrategyHybrid
			o := Options{Config: cfg, Getenv: func(string) string { return "" }}
			meta := st.(sessiond.MetaStore)
			mgr, keys, err := buildManager(ctx, cfg, o, st, meta, slog.New(slog.DiscardHandler), func(*sessiond.Options) {}, nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { mgr.Close(); keys.Close() })
			var hopts httpapi.Options
			end, err := attachRevocationStream(ctx, &hopts, cfg, st, mgr, keys,
				&fanout{log: st.(sessiond.EventLog), slog: slog.New(slog.DiscardHandler)})
			if err != nil {
				t.Fatal(err)
			}
			defer end()
			if hopts.Stream == nil || (hopts.Stream.Page != nil) != tc.paged {
				t.Errorf("RevocationStream.Page set: %v; want %v", hopts.Stream != nil && hopts.Stream.Page != nil, tc.paged)
			}
		})
	}
}
