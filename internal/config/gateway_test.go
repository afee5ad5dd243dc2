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
