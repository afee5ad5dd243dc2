package server

import (
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/internal/config"
)

// TestDriftSettings_AsRead: settings are compared as the server reads
// them, so two nodes that behave the same are not reported: a value read
// case-insensitively (cookie.same_site), and a setting read only when
// something else is on (the signing ring's settings when a ring is built:
// the jwt and hybrid strategies, or the Shared Signals transmitter, which
// signs with it; jwt.issuer and jwt.audience when signed tokens are
// issued: not on the database strategy; gateway.*, cookie.* and csrf.*
// with the gateway on; gateway.dbsc_cookie_lifetime when DBSC is on).
// Where the setting is read, a difference is still reported.
func TestDriftSettings_AsRead(t *testing.T) {
	kek := mustKEK(t, "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=")
	type change func(c *config.Config)
	none := func(*config.Config) {}
	ringSettings := func(c *config.Config) {
		c.JWT.Algorithm = "ES256"
		c.JWT.KeyRotationInterval = config.Duration(24 * time.Hour)
		c.JWT.KeyPublishPeriod = config.Duration(20 * time.Minute)
	}
	ring := []string{"jwt.algorithm", "jwt.key_publish_period", "jwt.key_rotation_interval"}
	gatewaySettings := func(c *config.Config) {
		c.Gateway.Prefix, c.Gateway.LoginURL, c.Gateway.ClientIPHeader = "/auth", "https://app.example/login", "X-Real-IP"
		c.Gateway.DBSC, c.Gateway.DBSCCookieLifetime = config.DBSCOptional, config.Duration(time.Hour)
		c.Cookie.Name, c.Cookie.RefreshName, c.Cookie.Secure = "s", "r", false
		c.Cookie.SameSite, c.Cookie.Path, c.Cookie.Domain = "strict", "/app", "example.com"
		c.Cookie.RefreshPath, c.Cookie.MaxAge, c.Cookie.HTTPOnly = "/auth/refresh", config.Duration(time.Hour), false
		c.CSRF.TrustedOrigins = []string{"https://app.example"}
	}
	gatewayPaths := []string{"cookie.domain", "cookie.http_only", "cookie.max_age", "cookie.name", "cookie.path", "cookie.refresh_name",
		"cookie.refresh_path", "cookie.same_site", "cookie.secure", "csrf.trusted_origins",
		"gateway.client_ip_header", "gateway.dbsc", "gateway.login_url", "gateway.prefix"} // dbsc_cookie_lifetime: read with dbsc on only
	gatewayOn := func(c *config.Config) { c.Gateway.Enabled = true }
	issuerAudience := func(c *config.Config) { c.JWT.Issuer, c.JWT.Audience = "https://auth.example", "app" }
	cases := []struct {
		name   string
		common change // applied to both nodes first
		a, b   change
		differ []string
	}{
		{"same_site in another case", gatewayOn,
			func(c *config.Config) { c.Cookie.SameSite = "Lax" }, func(c *config.Config) { c.Cookie.SameSite = "lax" }, nil},
		{"same_site STRICT and strict", gatewayOn,
			func(c *config.Config) { c.Cookie.SameSite = "STRICT" }, func(c *config.Config) { c.Cookie.SameSite = "strict" }, nil},
		{"same_site another value", gatewayOn,
			func(c *config.Config) { c.Cookie.SameSite = "Strict" }, func(c *config.Config) { c.Cookie.SameSite = "lax" }, []string{"cookie.same_site"}},

		{"ring settings on the database strategy", func(c *config.Config) { c.Strategy = sessiond.StrategyDatabase },
			ringSettings, none, nil},
		{"ring settings on the database strategy with the ssf transmitter", func(c *config.Config) {
			c.Strategy = sessiond.StrategyDatabase
			c.SSF.Transmitter.Enabled = true
		}, ringSettings, none, ring},
		{"ring settings on the hybrid strategy", func(c *config.Config) { c.Strategy = sessiond.StrategyHybrid },
			ringSettings, none, ring},
		{"ring settings on the jwt strategy", func(c *config.Config) { c.Strategy = sessiond.StrategyJWT },
			ringSettings, none, ring},
		// Not a ring setting: the revocation stream reads it in every strategy.
		{"jwt.leeway on the database strategy", func(c *config.Config) { c.Strategy = sessiond.StrategyDatabase },
			func(c *config.Config) { c.JWT.Leeway = config.Duration(time.Minute) }, none, []string{"jwt.leeway"}},
		// The strategy is what differs, not the ring the database node lacks.
		{"database and hybrid nodes", none,
			func(c *config.Config) { c.Strategy = sessiond.StrategyDatabase; ringSettings(c) }, none, []string{"strategy"}},

		{"dbsc_cookie_lifetime with dbsc off", func(c *config.Config) { c.Gateway.Enabled, c.Gateway.DBSC = true, config.DBSCOff },
			func(c *config.Config) { c.Gateway.DBSCCookieLifetime = config.Duration(time.Hour) }, none, nil},
		{"dbsc_cookie_lifetime with dbsc left out", func(c *config.Config) { c.Gateway.Enabled, c.Gateway.DBSC = true, "" },
			func(c *config.Config) { c.Gateway.DBSCCookieLifetime = config.Duration(time.Hour) }, none, nil},
		{"dbsc_cookie_lifetime with dbsc optional", func(c *config.Config) { c.Gateway.Enabled, c.Gateway.DBSC = true, config.DBSCOptional },
			func(c *config.Config) { c.Gateway.DBSCCookieLifetime = config.Duration(time.Hour) }, none, []string{"gateway.dbsc_cookie_lifetime"}},
		{"dbsc_cookie_lifetime with dbsc required", func(c *config.Config) { c.Gateway.Enabled, c.Gateway.DBSC = true, config.DBSCRequired },
			func(c *config.Config) { c.Gateway.DBSCCookieLifetime = config.Duration(time.Hour) }, none, []string{"gateway.dbsc_cookie_lifetime"}},

		// gateway.*, cookie.* and csrf.* are read only by the gateway
		// (addGateway): with it off on both nodes, they set nothing.
		{"gateway settings with the gateway off", func(c *config.Config) { c.Gateway.Enabled = false },
			gatewaySettings, none, nil},
		{"gateway settings with the gateway on", gatewayOn,
			gatewaySettings, none, gatewayPaths},
		// The gateway is what differs, not the settings the other node lacks.
		{"gateway on one node only", none,
			func(c *config.Config) { c.Gateway.Enabled = true; gatewaySettings(c) }, none, []string{"gateway.enabled"}},

		// jwt.issuer and jwt.audience are claims of the signed tokens
		// (jwttoken.Options): the database strategy issues none, with or
		// without the transmitter, which signs its SETs with
		// ssf.transmitter.issuer.
		{"issuer and audience on the database strategy", func(c *config.Config) { c.Strategy = sessiond.StrategyDatabase },
			issuerAudience, none, nil},
		{"issuer and audience on the database strategy with the ssf transmitter", func(c *config.Config) {
			c.Strategy = sessiond.StrategyDatabase
			c.SSF.Transmitter.Enabled = true
		}, issuerAudience, none, nil},
		{"issuer and audience on the hybrid strategy", func(c *config.Config) { c.Strategy = sessiond.StrategyHybrid },
			issuerAudience, none, []string{"jwt.audience", "jwt.issuer"}},
		{"issuer and audience on the jwt strategy", func(c *config.Config) { c.Strategy = sessiond.StrategyJWT },
			issuerAudience, none, []string{"jwt.audience", "jwt.issuer"}},
		{"database and jwt nodes with other issuers", none,
			func(c *config.Config) { c.Strategy = sessiond.StrategyDatabase; issuerAudience(c) }, none, []string{"strategy"}},

		{"dbsc optional on one node only", func(c *config.Config) { c.Gateway.Enabled = true },
			func(c *config.Config) {
				c.Gateway.DBSC, c.Gateway.DBSCCookieLifetime = config.DBSCOptional, config.Duration(time.Hour)
			}, func(c *config.Config) { c.Gateway.DBSC = config.DBSCOff }, []string{"gateway.dbsc"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			fingerprint := func(ch change) map[string]string {
				cfg := config.Default()
				c.common(&cfg)
				ch(&cfg)
				return driftSettings(cfg, kek, nil, nil)
			}
			a, b := fingerprint(c.a), fingerprint(c.b)
			var differ []string
			for _, p := range slices.Sorted(maps.Keys(a)) {
				if o, ok := b[p]; ok && o != a[p] && sameKey(o, a[p]) { // as compare judges them
					differ = append(differ, p)
				}
			}
			if !slices.Equal(differ, c.differ) {
				t.Errorf("driftSettings differs on %q; want %q", differ, c.differ)
			}
		})
	}
}
