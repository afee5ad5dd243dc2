package config

import (
	"strings"
	"testing"
)

// TestValidate_ServeLimits: values serve refuses (or silently replaced)
// are findings, and the values at the edge of each limit are not. The
// server's TestRun_AgreesWithValidate runs the same edges through serve.
func TestValidate_ServeLimits(t *testing.T) {
	const ssfTx = "ssf: {transmitter: {enabled: true, issuer: \"https://sessiond.example.com\"}}\n"
	cases := []struct {
		name     string
		yaml     string
		rule     string
		path     string
		severity Severity // "": the finding must be absent
		msg      string
	}{
		{"access 100 years", "strategy: database\nlifetimes: {access: 876000h}\n", "SD-LIFE-014", "lifetimes.access", "", ""},
		{"access over 100 years, database", "strategy: database\nlifetimes: {access: 876001h}\n", "SD-LIFE-014", "lifetimes.access", SeverityError, "exceeds 100 years"},
		{"access over 100 years, internal", "strategy: database\npreset: internal\nlifetimes: {access: 900000h}\n", "SD-LIFE-014", "lifetimes.access", SeverityError, "900000h"},
		{"access over 100 years, hybrid", "preset: internal\nlifetimes: {access: 900000h, refresh: 1000000h}\n", "SD-LIFE-014", "lifetimes.access", SeverityError, "exceeds 100 years"},
		{"console idle default", "", "SD-CONSOLE-001", "console.idle_timeout", "", ""},
		{"console idle 8h", "console: {idle_timeout: 8h}\n", "SD-CONSOLE-001", "console.idle_timeout", "", ""},
		{"console idle zero", "console: {idle_timeout: 0s}\n", "SD-CONSOLE-001", "console.idle_timeout", SeverityError, "is zero"},
		{"console idle empty", "console: {idle_timeout: \"\"}\n", "SD-CONSOLE-001", "console.idle_timeout", SeverityError, "is zero"},
		// Over 8h the idle timeout never applies, but serve starts with it
		// as it did before the rule: a warning, not a refusal.
		{"console idle over 8h", "console: {idle_timeout: 8h1s}\n", "SD-CONSOLE-001", "console.idle_timeout", SeverityWarning, "longer than the 8h"},
		{"console idle 100 years", "console: {idle_timeout: 876000h}\n", "SD-CONSOLE-001", "console.idle_timeout", SeverityWarning, "longer than the 8h"},
		{"console idle over 100 years", "console: {idle_timeout: 876001h}\n", "SD-CONSOLE-001", "console.idle_timeout", SeverityError, "exceeds 100 years"},
		{"console off idle zero", "console: {enabled: false, idle_timeout: 0s}\n", "SD-CONSOLE-001", "console.idle_timeout", "", ""},
		{"threshold 64", "anomaly: {distinct_ip_threshold: 64}\n", "SD-ANOMALY-002", "anomaly.distinct_ip_threshold", "", ""},
		{"threshold 65", "anomaly: {distinct_ip_threshold: 65}\n", "SD-ANOMALY-002", "anomaly.distinct_ip_threshold", SeverityError, "is over 64"},
		{"body 1", "server: {max_body_bytes: 1}\n", "SD-SERVER-002", "server.max_body_bytes", "", ""},
		{"body 0", "server: {max_body_bytes: 0}\n", "SD-SERVER-002", "server.max_body_bytes", SeverityError, "cannot be turned off"},
		{"body negative", "server: {max_body_bytes: -1}\n", "SD-SERVER-002", "server.max_body_bytes", SeverityError, "is below 1"},
		{"body over 1 MiB", "server: {max_body_bytes: 1048577}\n", "SD-SERVER-002", "server.max_body_bytes", SeverityWarning, "outside 1–1048576"},
		{"shutdown default", "", "SD-SERVER-008", "server.shutdown_delay", "", ""},
		{"shutdown delay 0", "server: {shutdown_delay: 0s}\n", "SD-SERVER-008", "server.shutdown_delay", "", ""},
		{"shutdown 30s together", "server: {shutdown_delay: 10s, shutdown_timeout: 20s}\n", "SD-SERVER-008", "server.shutdown_delay", "", ""},
		{"shutdown over 30s together", "server: {shutdown_delay: 11s, shutdown_timeout: 20s}\n", "SD-SERVER-008", "server.shutdown_delay", SeverityWarning, "together exceed the 30s"},
		// The finding points at the key the file sets.
		{"shutdown timeout alone over 30s", "server: {shutdown_timeout: 40s}\n", "SD-SERVER-008", "server.shutdown_timeout", SeverityWarning, "server.shutdown_timeout 40s together"},
		{"shutdown delay and timeout at the largest duration", "server: {shutdown_delay: 2562047h, shutdown_timeout: 2562047h}\n", "SD-SERVER-008", "server.shutdown_delay", SeverityWarning, "together exceed the 30s"},
		// 0 bounds nothing: the stop then waits for the loops and the
		// store's close without limit, whatever the delay.
		{"shutdown timeout 0", "server: {shutdown_timeout: 0s}\n", "SD-SERVER-008", "server.shutdown_timeout", SeverityWarning, "sets no bound"},
		{"shutdown timeout 0 delay 0", "server: {shutdown_delay: 0s, shutdown_timeout: 0s}\n", "SD-SERVER-008", "server.shutdown_timeout", SeverityWarning, "sets no bound"},
		{"shutdown timeout 0 delay over 30s", "server: {shutdown_delay: 31s, shutdown_timeout: 0s}\n", "SD-SERVER-008", "server.shutdown_delay", SeverityWarning, "together exceed the 30s"},
		{"leeway database", "strategy: database\njwt: {leeway: 61s}\n", "SD-JWT-006", "jwt.leeway", "", ""},
		{"leeway database ssf transmitter", "strategy: database\njwt: {leeway: 61s}\n" + ssfTx, "SD-JWT-006", "jwt.leeway", SeverityError, "exceeds 60s"},
		{"rotation off database", "strategy: database\njwt: {key_rotation_interval: 0s}\n", "SD-JWT-004", "jwt.key_rotation_interval", "", ""},
		{"rotation off database ssf transmitter", "strategy: database\njwt: {key_rotation_interval: 0s}\n" + ssfTx, "SD-JWT-004", "jwt.key_rotation_interval", SeverityWarning, "never rotated"},
		{"rotation over 90 days database ssf transmitter", "strategy: database\njwt: {key_rotation_interval: 2161h}\n" + ssfTx, "SD-JWT-004", "jwt.key_rotation_interval", SeverityWarning, "longer than 90 days"},
		{"algorithm database", "strategy: database\njwt: {algorithm: RS256}\n", "SD-JWT-005", "jwt.algorithm", "", ""},
		{"algorithm database ssf transmitter", "strategy: database\njwt: {algorithm: RS256}\n" + ssfTx, "SD-JWT-005", "jwt.algorithm", SeverityError, "RS256"},
		{"postgres schema 63 bytes", "store: {driver: postgres, dsn: host=db, namespace: " + strings.Repeat("s", 63) + "}\n", "SD-STORE-010", "store.namespace", "", ""},
		{"postgres schema 64 bytes", "store: {driver: postgres, dsn: host=db, namespace: " + strings.Repeat("s", 64) + "}\n", "SD-STORE-010", "store.namespace", SeverityError, "at most 63 bytes"},
		{"redis prefix brace", "store: {driver: redis, dsn: \"redis://db:6379/0\", namespace: \"a{b\"}\n", "SD-STORE-010", "store.namespace", SeverityError, "brace"},
		{"redis prefix", "store: {driver: redis, dsn: \"redis://db:6379/0\", namespace: sessiond_eu}\n", "SD-STORE-010", "store.namespace", "", ""},
		{"postgres schema with a brace", "store: {driver: postgres, dsn: host=db, namespace: \"a{b\"}\n", "SD-STORE-010", "store.namespace", "", ""},
		{"namespace on sqlite", "store: {driver: sqlite, namespace: eu}\n", "SD-STORE-011", "store.namespace", SeverityWarning, "store.driver is sqlite"},
		{"namespace on memory", "store: {driver: memory, namespace: eu}\n", "SD-STORE-011", "store.namespace", SeverityWarning, "store.driver is memory"},
		{"namespace on postgres", "store: {driver: postgres, dsn: host=db, namespace: eu}\n", "SD-STORE-011", "store.namespace", "", ""},
		{"client cache on postgres", "store: {driver: postgres, dsn: host=db, client_cache: 5m}\n", "SD-STORE-011", "store.client_cache", SeverityWarning, "only redis reads it"},
		{"retention off on redis", "store: {driver: redis, dsn: \"redis://db:6379/0\"}\nevents: {retention: 0s}\n", "SD-STORE-005", "events.retention", SeverityInfo, "up to 400 days"},
		{"retention two weeks on redis", "store: {driver: redis, dsn: \"redis://db:6379/0\"}\nevents: {retention: 336h}\n", "SD-STORE-005", "events.retention", "", ""},
		{"retention off on sqlite", "events: {retention: 0s}\n", "SD-STORE-005", "events.retention", "", ""},
		{"poll interval under the max age", pollReceiver("poll_interval: 1h, poll_max_age: 2h"), "SD-SSF-001", "ssf.receivers.0.poll_interval", "", ""},
		{"poll interval at the max age", pollReceiver("poll_interval: 2h, poll_max_age: 2h"), "SD-SSF-001", "ssf.receivers.0.poll_interval", SeverityError, "not shorter than its poll_max_age 2h"},
		{"poll interval over the default max age", pollReceiver("poll_interval: 8d"), "SD-SSF-001", "ssf.receivers.0.poll_interval", SeverityError, "not shorter than its poll_max_age 168h"},
		{"publish period 24h", "jwt: {key_publish_period: 24h}\n", "SD-JWT-011", "jwt.key_publish_period", "", ""},
		{"publish period over 24h", "jwt: {key_publish_period: 25h}\n", "SD-JWT-011", "jwt.key_publish_period", SeverityWarning, "over 24h"},
		{"publish period over the rotation interval", "jwt: {key_publish_period: 2h, key_rotation_interval: 1h}\n", "SD-JWT-011", "jwt.key_publish_period", SeverityWarning, "key_rotation_interval 1h"},
		{"publish period over 24h, database", "strategy: database\njwt: {key_publish_period: 25h}\n", "SD-JWT-011", "jwt.key_publish_period", "", ""},
		{"client cache on redis", "store: {driver: redis, dsn: \"redis://db:6379/0\", client_cache: 5m}\n", "SD-STORE-011", "store.client_cache", "", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			wantFinding(t, c.yaml, "", c.rule, c.path, c.severity, c.msg)
		})
	}
}

// pollReceiver is a complete poll receiver with more settings.
func pollReceiver(more string) string {
	return "ssf: {receivers: [{name: idp, issuer: \"https://idp.example\", audience: sessiond, jwks_url: \"https://idp.example/jwks\"," +
		" subject_format: email, delivery: poll, poll_url: \"https://idp.example/poll\", " + more + "}]}\n"
}
