package server

import (
	"maps"
	"slices"
	"testing"

	"github.com/sessiond/sessiond/httpsession"
	"github.com/sessiond/sessiond/internal/config"
	"github.com/sessiond/sessiond/jwttoken/signing"
	"github.com/sessiond/sessiond/ssf"
	"github.com/sessiond/sessiond/webhook"
)

// TestDriftSettings_ZeroMeansDefault: a setting whose zero means its
// default fingerprints as the default written out, so that two nodes
// agreeing in effect are not reported as drifting; a zero that means
// something else (off, never, every time) still differs from the default.
func TestDriftSettings_ZeroMeansDefault(t *testing.T) {
	kek := mustKEK(t, "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=")
	hook := webhook.Endpoint{Name: "siem", URL: "https://siem.example/hook", Secret: []byte("0123456789abcdef0123456789abcdef")}
	receivers := func() []config.SSFReceiver {
		return []config.SSFReceiver{
			{Name: "pushed", Issuer: "https://idp.example", Audience: "a", Delivery: config.SSFDeliveryPush, Path: "/ssf/push"},
			{Name: "polled", Issuer: "https://idp.example", Audience: "a", Delivery: config.SSFDeliveryPoll, PollURL: "https://idp.example/poll",
				PollInterval: config.Duration(ssf.DefaultPollInterval), PollMaxAge: config.Duration(ssf.DefaultPollMaxAge)},
		}
	}
	type change func(c *config.Config, eps []webhook.Endpoint)
	cases := []struct {
		name   string
		zero   change // the node writing zero (or leaving the key out)
		dflt   change // the node writing the default out
		differ []string
	}{
		{"webhook max_attempts and max_pending_age", func(_ *config.Config, eps []webhook.Endpoint) {
			eps[0].MaxAttempts, eps[0].MaxPendingAge = 0, 0
		}, func(_ *config.Config, eps []webhook.Endpoint) {
			eps[0].MaxAttempts, eps[0].MaxPendingAge = webhook.DefaultMaxAttempts, webhook.DefaultMaxPendingAge
		}, nil},
		{"store.revocation_replicas", func(c *config.Config, _ []webhook.Endpoint) {
			c.Store.RevocationReplicas = ""
		}, func(c *config.Config, _ []webhook.Endpoint) {
			c.Store.RevocationReplicas = config.RevocationReplicasAuto
		}, nil},
		{"store.namespace on postgres", func(c *config.Config, _ []webhook.Endpoint) {
			c.Store.Driver, c.Store.Namespace = "postgres", ""
		}, func(c *config.Config, _ []webhook.Endpoint) {
			c.Store.Driver, c.Store.Namespace = "postgres", "public"
		}, nil},
		{"store.namespace on redis", func(c *config.Config, _ []webhook.Endpoint) {
			c.Store.Driver, c.Store.Namespace = "redis", ""
		}, func(c *config.Config, _ []webhook.Endpoint) {
			c.Store.Driver, c.Store.Namespace = "redis", "sd"
		}, nil},
		{"jwt.key_publish_period", func(c *config.Config, _ []webhook.Endpoint) {
			c.JWT.KeyPublishPeriod = 0
		}, func(c *config.Config, _ []webhook.Endpoint) {
			c.JWT.KeyPublishPeriod = config.Duration(signing.DefaultPublishFor)
		}, nil},
		{"cookie names", func(c *config.Config, _ []webhook.Endpoint) {
			c.Cookie.Name, c.Cookie.RefreshName = "", ""
		}, func(c *config.Config, _ []webhook.Endpoint) {
			c.Cookie.Name, c.Cookie.RefreshName = httpsession.DefaultCookieName, httpsession.DefaultRefreshCookieName
		}, nil},
		{"ssf receivers' delivery, poll_interval and poll_max_age", func(c *config.Config, _ []webhook.Endpoint) {
			c.SSF.Receivers[0].Delivery = ""
			c.SSF.Receivers[1].PollInterval, c.SSF.Receivers[1].PollMaxAge = 0, 0
		}, func(*config.Config, []webhook.Endpoint) {}, nil},
		// httpsession's defaults without Secure (InsecureDevCookies) drop
		// their prefixes, as the names a development file writes out do.
		{"cookie names with cookie.secure off", func(c *config.Config, _ []webhook.Endpoint) {
			c.Cookie.Secure, c.Cookie.Name, c.Cookie.RefreshName = false, "", ""
		}, func(c *config.Config, _ []webhook.Endpoint) {
			c.Cookie.Secure, c.Cookie.Name, c.Cookie.RefreshName = false, "sessiond", "sessiond-refresh"
		}, nil},
		// httpsession drops a prefix in any case (hasPrefixFold).
		{"cookie names' prefixes in another case with cookie.secure off", func(c *config.Config, _ []webhook.Endpoint) {
			c.Cookie.Secure, c.Cookie.Name, c.Cookie.RefreshName = false, "", ""
		}, func(c *config.Config, _ []webhook.Endpoint) {
			c.Cookie.Secure, c.Cookie.Name, c.Cookie.RefreshName = false, "__HOST-sessiond", "__secure-sessiond-refresh"
		}, nil},
		// The access cookie's Path is / (httpsession), the refresh
		// cookie's the gateway's refresh route (addGateway).
		{"cookie paths", func(c *config.Config, _ []webhook.Endpoint) {
			c.Cookie.Path, c.Cookie.RefreshPath = "", ""
		}, func(c *config.Config, _ []webhook.Endpoint) {
			c.Cookie.Path, c.Cookie.RefreshPath = "/", c.Gateway.Prefix+"/refresh"
		}, nil},
		{"ssf receivers' subject_template", func(*config.Config, []webhook.Endpoint) {}, func(c *config.Config, _ []webhook.Endpoint) {
			for i := range c.SSF.Receivers {
				c.SSF.Receivers[i].SubjectTemplate = ssf.DefaultTemplate
			}
		}, nil},
		// Other values than the default still differ.
		{"other cookie names, paths and subject template", func(c *config.Config, _ []webhook.Endpoint) {
			c.Cookie.Secure, c.Cookie.Name, c.Cookie.Path, c.Cookie.RefreshPath = false, "", "", ""
		}, func(c *config.Config, _ []webhook.Endpoint) {
			c.Cookie.Secure, c.Cookie.Name, c.Cookie.Path, c.Cookie.RefreshPath = false, "sid", "/app", "/app/refresh"
			c.SSF.Receivers[0].SubjectTemplate = "idp:{value}"
		}, []string{"cookie.name", "cookie.path", "cookie.refresh_path", "ssf.receivers.pushed.subject_template"}},
		// Zeros that mean something else than the default.
		{"zeros that turn something off", func(c *config.Config, _ []webhook.Endpoint) {
			c.JWT.KeyRotationInterval = 0
			c.Lifetime.TouchInterval, c.Lifetime.ReuseInterval = 0, 0
			c.Events.Retention = 0
			c.Store.RevocationReplicas = "0"
		}, func(*config.Config, []webhook.Endpoint) {}, []string{"events.retention", "jwt.key_rotation_interval", "lifetimes.reuse_interval", "lifetimes.touch_interval", "store.revocation_replicas"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			fingerprint := func(ch change) map[string]string {
				cfg := config.Default()
				cfg.Gateway.Enabled = true // which alone reads cookie.*
				cfg.SSF.Receivers = receivers()
				eps := []webhook.Endpoint{hook}
				ch(&cfg, eps)
				return driftSettings(cfg, kek, nil, eps)
			}
			zero, dflt := fingerprint(c.zero), fingerprint(c.dflt)
			var differ []string
			for _, p := range slices.Sorted(maps.Keys(dflt)) {
				if zero[p] != dflt[p] {
					differ = append(differ, p)
				}
			}
			if !slices.Equal(differ, c.differ) {
				t.Errorf("driftSettings differs on %q; want %q", differ, c.differ)
			}
		})
	}
}
