package server_test

import (
	"testing"

	"github.com/sessiond/sessiond/internal/config"
	"github.com/sessiond/sessiond/internal/server"
)

// TestManagerOptions_Caches: the cache sizes reach the Manager, and 0 in
// the configuration turns a cache off (the Manager reads 0 as its default
// size, so the server passes a negative size).
func TestManagerOptions_Caches(t *testing.T) {
	cases := []struct {
		name                string
		verify, refresh     int
		wantVerify, wantRef int
	}{
		{"defaults", 65536, 65536, 65536, 65536},
		{"sizes", 100, 200, 100, 200},
		{"zero is off", 0, 0, -1, -1},
		{"negative is off", -5, -5, -5, -5},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := config.Default()
			cfg.VerifyCacheSize, cfg.Refresh.CacheSize = tc.verify, tc.refresh
			o := server.ManagerOptions(cfg)
			if o.VerifyCacheSize != tc.wantVerify || o.RefreshCacheSize != tc.wantRef {
				t.Errorf("VerifyCacheSize, RefreshCacheSize = %d, %d; want %d, %d",
					o.VerifyCacheSize, o.RefreshCacheSize, tc.wantVerify, tc.wantRef)
			}
		})
	}
	if d := config.Default(); d.Refresh.CacheSize != 65536 {
		t.Errorf("default refresh.cache_size = %d; want 65536 (docs/configuration.md)", d.Refresh.CacheSize)
	}
}
