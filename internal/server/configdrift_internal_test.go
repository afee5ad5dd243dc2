package server

import (
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/internal/config"
	"github.com/sessiond/sessiond/jwttoken/signing"
	"github.com/sessiond/sessiond/webhook"
)

// TestDriftSettings: which settings two nodes must share. Each case
// changes one node's configuration and names the settings its fingerprint
// must then differ on: none for a setting each node may hold its own.
func TestDriftSettings(t *testing.T) {
	kek := mustKEK(t, "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=")
	otherKEK := mustKEK(t, "ZmVkY2JhOTg3NjU0MzIxMGZlZGNiYTk4NzY1NDMyMTA=")
	secret := []byte("0123456789abcdef0123456789abcdef")
	hook := webhook.Endpoint{Name: "siem", URL: "https://siem.example/hook", Secret: secret, Events: []sessiond.EventType{"session.revoked", "session.created"}}
	base := config.Default()
	cases := []struct {
		name   string
		change func(c *config.Config, k **signing.KEK, eps []webhook.Endpoint) []webhook.Endpoint
		want   []string
	}{
		{"same", func(*config.Config, **signing.KEK, []webhook.Endpoint) []webhook.Endpoint { return nil }, nil},
		{"preset's lifetimes written out", func(c *config.Config, _ **signing.KEK, _ []webhook.Endpoint) []webhook.Endpoint {
			l, _ := c.Lifetimes()
			c.Preset = "internal"
			c.Lifetime.Access, c.Lifetime.Refresh = config.Duration(l.Access), config.Duration(l.Refresh)
			return nil
		}, nil},
		{"per-node settings", func(c *config.Config, _ **signing.KEK, _ []webhook.Endpoint) []webhook.Endpoint {
			c.Environment = "development"
			c.Server.Listen, c.Server.ReadTimeout, c.Server.AdminListen = "0.0.0.0:9", config.Duration(time.Minute), "127.0.0.1:9"
			c.Store.DSN, c.Store.WriteGroups, c.Store.ClientCache = "postgres://other@db/x", 7, config.Duration(time.Second)
			c.Log.Level, c.VerifyCacheSize, c.Refresh.CacheSize = "debug", 5, 5
			c.RateLimit.PerClientIP.Requests, c.RateLimit.RevocationStreamsPerAPIKey = 1, 1
			c.Gateway.TrustedProxies = []string{"10.0.0.0/8"}
			c.Signing.KEKFile, c.JWT.HS256SecretFile = "/elsewhere/kek", "/elsewhere/hs256"
			c.Console.Enabled = !c.Console.Enabled
			return nil
		}, nil},
		{"list order", func(c *config.Config, _ **signing.KEK, eps []webhook.Endpoint) []webhook.Endpoint {
			c.CSRF.TrustedOrigins = []string{"https://c.example", "https://a.example"}
			eps[0].Events = []sessiond.EventType{"session.created", "session.revoked"}
			return eps
		}, nil},
		{"security settings", func(c *config.Config, _ **signing.KEK, _ []webhook.Endpoint) []webhook.Endpoint {
			c.Strategy = "jwt" // not database, which reads no jwt.issuer
			c.Lifetime.Idle = config.Duration(time.Hour)
			c.Lifetime.ReuseInterval = 0
			c.Refresh.ReuseDetection = false
			c.Limits.MaxSessions = 5
			c.Cookie.SameSite = "none"
			c.JWT.Issuer = "https://typo.example"
			c.Anomaly.Rules.RefreshDeviceChange.Action = "log"
			c.Events.Retention = config.Duration(time.Hour)
			c.Store.RevocationReplicas = "0"
			c.RateLimit.RefreshFailures.Requests = 1000
			return nil
		}, []string{"anomaly.rules.refresh_device_change.action", "cookie.same_site", "events.retention", "jwt.issuer", "lifetimes.idle", "lifetimes.reuse_interval",
			"limits.max_sessions", "rate_limit.refresh_failures.requests", "refresh.reuse_detection", "store.revocation_replicas", "strategy"}},
		{"another KEK", func(_ *config.Config, k **signing.KEK, _ []webhook.Endpoint) []webhook.Endpoint {
			*k = otherKEK
			return nil
		}, []string{"signing.kek"}},
		{"webhook secret, url and one more", func(_ *config.Config, _ **signing.KEK, eps []webhook.Endpoint) []webhook.Endpoint {
			eps[0].Secret = []byte("fedcba9876543210fedcba9876543210")
			eps[0].URL = "https://old-siem.example/hook"
			return append(eps, webhook.Endpoint{Name: "audit", URL: "https://audit.example", Secret: secret})
		}, []string{"webhooks", "webhooks.siem.secret", "webhooks.siem.url"}},
		// Any node may claim any delivery: one that ends it dead sooner
		// (or later) than the others must be seen.
		{"webhook attempts and pending age", func(_ *config.Config, _ **signing.KEK, eps []webhook.Endpoint) []webhook.Endpoint {
			eps[0].MaxAttempts = 3
			eps[0].MaxPendingAge = time.Hour
			return nil
		}, []string{"webhooks.siem.max_attempts", "webhooks.siem.max_pending_age"}},
	}
	base.CSRF.TrustedOrigins = []string{"https://a.example", "https://c.example"}
	// With the gateway, which alone reads cookie.* and csrf.*.
	base.Gateway.Enabled = true
	want := driftSettings(base, kek, nil, []webhook.Endpoint{hook})
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg := base
			cfg.CSRF.TrustedOrigins = slices.Clone(base.CSRF.TrustedOrigins)
			k := kek
			eps := []webhook.Endpoint{hook}
			eps[0].Events = slices.Clone(hook.Events)
			if got := c.change(&cfg, &k, eps); got != nil {
				eps = got
			}
			got := driftSettings(cfg, k, nil, eps)
			var differ []string
			for _, p := range slices.Sorted(maps.Keys(want)) {
				if g, ok := got[p]; ok && g != want[p] && sameKey(g, want[p]) { // as compare judges them
					differ = append(differ, p)
				}
			}
			if !slices.Equal(differ, c.want) {
				t.Errorf("driftSettings differs on %q; want %q", differ, c.want)
			}
			for p, h := range got {
				if strings.Contains(h, "example") || strings.Contains(p, string(secret)) {
					t.Errorf("fingerprint %s = %q shows a value", p, h)
				}
			}
		})
	}
}

func mustKEK(t *testing.T, b64 string) *signing.KEK {
	t.Helper()
	k, err := signing.ParseKEK([]byte(b64))
	if err != nil {
		t.Fatal(err)
	}
	return k
}
