package config

import "testing"

// TestValidate_RateLimitPerCapped: a rate limit's per is held to 100 years
// (sessiond.MaxLifetime). Near the 292 years a duration holds, the wait a
// refused client is told overflowed, and Retry-After read 1 second.
func TestValidate_RateLimitPerCapped(t *testing.T) {
	cases := []struct {
		name     string
		path     string
		yaml     string
		severity Severity // "": the finding must be absent
		msg      string
	}{
		{"default", "rate_limit.per_client_ip.per", "", "", ""},
		{"100 years", "rate_limit.per_client_ip.per", "rate_limit: {per_client_ip: {per: 876000h}}\n", "", ""},
		{"just over 100 years", "rate_limit.per_client_ip.per", "rate_limit: {per_client_ip: {per: 876000h1s}}\n", SeverityError, "exceeds 100 years"},
		{"largest duration per key", "rate_limit.per_api_key.per", "rate_limit: {per_api_key: {per: 2562047h47m16.854775807s}}\n", SeverityError, "exceeds 100 years"},
		{"largest duration auth failures", "rate_limit.auth_failures.per", "rate_limit: {auth_failures: {per: 2562047h}}\n", SeverityError, "exceeds 100 years"},
		{"largest duration refresh failures", "rate_limit.refresh_failures.per", "rate_limit: {refresh_failures: {per: 2562047h}}\n", SeverityError, "exceeds 100 years"},
		{"off: per not used", "rate_limit.per_client_ip.per", "rate_limit: {per_client_ip: {requests: 0, per: 2562047h}}\n", "", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			wantFinding(t, c.yaml, "", "SD-RATE-001", c.path, c.severity, c.msg)
		})
	}
}
