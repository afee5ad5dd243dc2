package server_test

import (
	"testing"
	"time"

	"github.com/sessiond/sessiond"
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

// TestManagerOptions_ZeroIntervals: 0s written for touch_interval or
// reuse_interval reaches the Manager as "none" (a negative interval), not
// as 0, which the Manager reads as its default (1m and 5s): an idle
// timeout under a minute would otherwise end sessions in use.
func TestManagerOptions_ZeroIntervals(t *testing.T) {
	cfg := config.Default()
	if o := server.ManagerOptions(cfg); o.TouchInterval != time.Minute || o.ReuseInterval != 5*time.Second {
		t.Errorf("defaults: TouchInterval, ReuseInterval = %v, %v; want 1m, 5s", o.TouchInterval, o.ReuseInterval)
	}
	cfg.Lifetime.TouchInterval, cfg.Lifetime.ReuseInterval = 0, 0
	if o := server.ManagerOptions(cfg); o.TouchInterval >= 0 || o.ReuseInterval >= 0 {
		t.Errorf("0s: TouchInterval, ReuseInterval = %v, %v; want both negative (none)", o.TouchInterval, o.ReuseInterval)
	}
}

// TestManagerOptions_EventIPPrefixes: events.ipv4_prefix and ipv6_prefix
// reach the Manager, and the whole address (32, 128, the defaults) is
// the Manager's zero value, which cuts nothing.
func TestManagerOptions_EventIPPrefixes(t *testing.T) {
	cases := []struct {
		name   string
		v4, v6 int
		want   sessiond.IPPrefixes
	}{
		{"defaults", 32, 128, sessiond.IPPrefixes{}},
		{"networks", 24, 48, sessiond.IPPrefixes{V4: 24, V6: 48}},
		{"IPv4 only", 24, 128, sessiond.IPPrefixes{V4: 24}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := config.Default()
			cfg.Events.IPv4Prefix, cfg.Events.IPv6Prefix = tc.v4, tc.v6
			if got := server.ManagerOptions(cfg).EventIPPrefixes; got != tc.want {
				t.Errorf("EventIPPrefixes = %+v; want %+v", got, tc.want)
			}
		})
	}
	if d := config.Default().Events; d.IPv4Prefix != 32 || d.IPv6Prefix != 128 {
		t.Errorf("default events.ipv4_prefix, ipv6_prefix = %d, %d; want 32, 128 (docs/configuration.md)", d.IPv4Prefix, d.IPv6Prefix)
	}
}
