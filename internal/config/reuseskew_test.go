package config

import "testing"

// TestValidate_ReuseIntervalClockSkew: SD-LIFE-015 warns when nodes that
// share a store must keep their clocks closer than a short reuse interval
// (docs/operations.md, "Clock skew"), and only then: one node (memory,
// SQLite), no grace at all, no reuse detection, no refresh tokens.
func TestValidate_ReuseIntervalClockSkew(t *testing.T) {
	const pg, redis = "store: {driver: postgres, dsn: host=db}\n", "store: {driver: redis, dsn: \"redis://db:6379/0\"}\n"
	for _, tc := range []struct {
		name     string
		yaml     string
		severity Severity // "": no finding
	}{
		{"postgres 2s", pg + "lifetimes: {reuse_interval: 2s}\n", SeverityWarning},
		{"redis 1s", redis + "lifetimes: {reuse_interval: 1s}\n", SeverityWarning},
		{"postgres 1ms", pg + "lifetimes: {reuse_interval: 1ms}\n", SeverityWarning},
		{"postgres over 2s", pg + "lifetimes: {reuse_interval: 2001ms}\n", ""},
		{"postgres default", pg, ""},
		{"postgres no grace", pg + "lifetimes: {reuse_interval: 0s}\n", ""},
		{"sqlite 1s", "lifetimes: {reuse_interval: 1s}\n", ""},
		{"memory 1s", "store: {driver: memory}\nlifetimes: {reuse_interval: 1s}\n", ""},
		{"no reuse detection", pg + "lifetimes: {reuse_interval: 1s}\nrefresh: {reuse_detection: false}\n", ""},
		{"no rotation", pg + "lifetimes: {reuse_interval: 1s}\nrefresh: {rotation: false}\n", ""},
		{"database strategy", pg + "strategy: database\nlifetimes: {reuse_interval: 1s}\n", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wantFinding(t, tc.yaml, "", "SD-LIFE-015", "lifetimes.reuse_interval", tc.severity, "taken for theft")
		})
	}
}
