package config

import "testing"

// TestValidate_EventIPPrefixes: events.ipv4_prefix and events.ipv6_prefix
// must fit their addresses (SD-EVENTS-001, an error: the Manager refuses
// them), and an anomaly prefix longer than the events' is a warning: the
// anomaly events' details name networks of the anomaly's length.
func TestValidate_EventIPPrefixes(t *testing.T) {
	cases := []struct {
		name     string
		yaml     string
		path     string
		severity Severity // "": the finding must be absent
		msg      string
	}{
		{"defaults", "", "events.ipv4_prefix", "", ""},
		{"v4 24, anomaly 24", "events: {ipv4_prefix: 24}\n", "events.ipv4_prefix", "", ""},
		{"v4 1", "events: {ipv4_prefix: 1}\nanomaly: {ipv4_prefix: 1}\n", "events.ipv4_prefix", "", ""},
		{"v4 0", "events: {ipv4_prefix: 0}\n", "events.ipv4_prefix", SeverityError, "not in 1–32"},
		{"v4 33", "events: {ipv4_prefix: 33}\n", "events.ipv4_prefix", SeverityError, "not in 1–32"},
		{"v4 negative", "events: {ipv4_prefix: -24}\n", "events.ipv4_prefix", SeverityError, "not in 1–32"},
		{"v6 64", "events: {ipv6_prefix: 64}\n", "events.ipv6_prefix", "", ""},
		{"v6 0", "events: {ipv6_prefix: 0}\n", "events.ipv6_prefix", SeverityError, "not in 1–128"},
		{"v6 129", "events: {ipv6_prefix: 129}\n", "events.ipv6_prefix", SeverityError, "not in 1–128"},
		{"v4 16 under anomaly 24", "events: {ipv4_prefix: 16}\n", "events.ipv4_prefix", SeverityWarning, "/24 networks"},
		{"v4 16 under anomaly 16", "events: {ipv4_prefix: 16}\nanomaly: {ipv4_prefix: 16}\n", "events.ipv4_prefix", "", ""},
		{"v6 48 under anomaly 64", "events: {ipv6_prefix: 48}\n", "events.ipv6_prefix", SeverityWarning, "/64 networks"},
		{"v6 48 under anomaly 48", "events: {ipv6_prefix: 48}\nanomaly: {ipv6_prefix: 48}\n", "events.ipv6_prefix", "", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			wantFinding(t, tc.yaml, EnvProduction, "SD-EVENTS-001", tc.path, tc.severity, tc.msg)
		})
	}
}
