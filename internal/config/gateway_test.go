package config

import "testing"

func TestRules_GatewayPrefix(t *testing.T) {
	for _, c := range []struct {
		prefix string
		fires  bool
	}{
		{"/sessiond", false},
		{"/auth/gw", false},
		{"/v1", true},
		{"/v1/gw", true},
		{"/oauth2", true},
		{"/sdk", true},
		{"/metrics", true},
		{"/console", true},     // the console on the API listener hid the gateway
		{"/.well-known", true}, // JWKS and the SSF configuration
		{"/consoles", false},
		{"/sessiond/", true},
		{"/a//b", true},
		{"/a/../b", true},
		{"sessiond", true},
		{"/", true},
	} {
		cfg := Default()
		cfg.Gateway.Enabled, cfg.Gateway.LoginURL, cfg.Gateway.Prefix = true, "/login", c.prefix
		fired := false
		for _, f := range Validate(cfg, nil, "") {
			fired = fired || f.RuleID == "SD-GATEWAY-002"
		}
		if fired != c.fires {
			t.Errorf("gateway.prefix %q: SD-GATEWAY-002 fired = %v; want %v", c.prefix, fired, c.fires)
		}
	}
}

// TestRules_SSFReceiverPath: a receiver's push path is routed ahead of
// every other route, so one under the server's own paths or the gateway's
// prefix would replace them (introspection, JWKS, the console sign-in,
// the gateway's check).
func TestRules_SSFReceiverPath(t *testing.T) {
	for _, c := range []struct {
		path  string
		fires bool
	}{
		{"/ssf/push/idp", false},
		{"/hooks/idp", false},
		{"/v1/ssf", true},
		{"/oauth2/introspect", true},
		{"/.well-known/jwks.json", true},
		{"/healthz", true},
		{"/console/signin", true},
		{"/sessiond/check", true}, // the gateway's prefix
		{"/sessiond", true},
		{"/sessiondx/push", false},
		{"ssf/push", true},
	} {
		cfg := Default()
		cfg.Gateway.Enabled, cfg.Gateway.LoginURL = true, "/login"
		cfg.SSF.Receivers = []SSFReceiver{{Name: "idp", Issuer: "https://idp.example", Audience: "sessiond",
			JWKSURL: "https://idp.example/jwks", SubjectFormat: "email", Delivery: SSFDeliveryPush, Path: c.path}}
		fired := false
		for _, f := range Validate(cfg, nil, EnvProduction) {
			fired = fired || f.RuleID == "SD-SSF-001" && f.Path == "ssf.receivers.0.path"
		}
		if fired != c.fires {
			t.Errorf("ssf receiver path %q: SD-SSF-001 fired = %v; want %v", c.path, fired, c.fires)
		}
	}
}
