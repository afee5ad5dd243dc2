package server_test

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"

	"github.com/sessiond/sessiond/anomaly"
	"github.com/sessiond/sessiond/internal/config"
	"github.com/sessiond/sessiond/internal/console"
	"github.com/sessiond/sessiond/internal/server"
	"github.com/sessiond/sessiond/internal/testenv"
	"github.com/sessiond/sessiond/sessiondtest"
	"github.com/sessiond/sessiond/ssf"
)

// TestRun_AgreesWithValidate: a configuration `sessiond config validate`
// passes starts serve, and one serve refuses fails validate with a finding
// (so serve refuses it as ErrInvalidConfig, exit 78, before it builds
// anything). Each case sits at the edge of a limit a constructor behind
// serve enforces; every one of the "refuse" cases once passed validate and
// then stopped serve with a bare error (exit 1), or started it with a value
// other than the file's.
func TestRun_AgreesWithValidate(t *testing.T) {
	pg := sessiondtest.RequireEnv(t, "SESSIOND_TEST_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/test?sslmode=disable")
	rd := sessiondtest.RequireEnv(t, "SESSIOND_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
	pgStore := "store: {driver: postgres, dsn: \"" + pg + "\", namespace: "
	rdStore := "store: {driver: redis, dsn: \"" + rd + "\", namespace: "
	rdPrefix := testenv.UniqueName("cfgagree")
	t.Cleanup(func() { testenv.DeleteRedisPrefix(t, rd, rdPrefix+":") })
	cases := []struct {
		name   string
		yaml   string
		starts bool
		rule   string // the finding that refuses it
	}{
		{"access lifetime of 100 years, database", "strategy: database\nlifetimes: {access: 876000h}\n", true, ""},
		{"access lifetime over 100 years, database", "strategy: database\nlifetimes: {access: 876001h}\n", false, "SD-LIFE-014"},
		{"access lifetime over 100 years, preset internal", "strategy: database\npreset: internal\nlifetimes: {access: 900000h}\n", false, "SD-LIFE-014"},
		{"console idle timeout 8h", "console: {idle_timeout: 8h}\n", true, ""},
		{"console idle timeout zero", "console: {idle_timeout: 0s}\n", false, "SD-CONSOLE-001"},
		{"console idle timeout over 8h", "console: {idle_timeout: 8h1s}\n", true, ""},
		{"console idle timeout of 100 years", "console: {idle_timeout: 876000h}\n", true, ""},
		{"console idle timeout over 100 years", "console: {idle_timeout: 40000d}\n", false, "SD-CONSOLE-001"},
		{"console off, idle timeout zero", "console: {enabled: false, idle_timeout: 0s}\n", true, ""},
		{"distinct ip threshold at its cap", "anomaly: {distinct_ip_threshold: 64}\n", true, ""},
		{"distinct ip threshold over its cap", "anomaly: {distinct_ip_threshold: 65}\n", false, "SD-ANOMALY-002"},
		{"event address prefixes at their edges", "events: {ipv4_prefix: 1, ipv6_prefix: 128}\nanomaly: {ipv4_prefix: 1}\n", true, ""},
		{"event ipv4 prefix over 32", "events: {ipv4_prefix: 33}\n", false, "SD-EVENTS-001"},
		{"event ipv6 prefix zero", "events: {ipv6_prefix: 0}\n", false, "SD-EVENTS-001"},
		{"body limit of one byte", "server: {max_body_bytes: 1}\n", true, ""},
		{"body limit zero", "server: {max_body_bytes: 0}\n", false, "SD-SERVER-002"},
		{"body limit negative", "server: {max_body_bytes: -1}\n", false, "SD-SERVER-002"},
		{"revocation streams per key off", "rate_limit: {revocation_streams_per_api_key: 0}\n", true, ""},
		{"revocation streams per key negative", "rate_limit: {revocation_streams_per_api_key: -1}\n", false, "SD-RATE-001"},
		{"leeway 60s for the ssf transmitter", "strategy: database\njwt: {leeway: 60s}\nssf: {transmitter: {enabled: true, issuer: \"https://sessiond.example.com\"}}\n", true, ""},
		{"leeway over 60s for the ssf transmitter", "strategy: database\njwt: {leeway: 61s}\nssf: {transmitter: {enabled: true, issuer: \"https://sessiond.example.com\"}}\n", false, "SD-JWT-006"},
		{"unknown algorithm for the ssf transmitter", "strategy: database\njwt: {algorithm: RS256}\nssf: {transmitter: {enabled: true, issuer: \"https://sessiond.example.com\"}}\n", false, "SD-JWT-005"},
		{"postgres schema of 63 bytes", pgStore + testenv.PostgresSchema(t, pg, "cfgagree_"+strings.Repeat("s", 42)) + "}\n", true, ""},
		{"postgres schema of 64 bytes", pgStore + "cfgagree_" + strings.Repeat("s", 55) + "}\n", false, "SD-STORE-010"},
		{"redis prefix", rdStore + rdPrefix + "}\n", true, ""},
		{"redis prefix with a brace", rdStore + "\"cfgagree_{a}\"}\n", false, "SD-STORE-010"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg, doc, err := config.Parse([]byte(c.yaml), "t.yaml")
			if err != nil {
				t.Fatal(err)
			}
			if cfg.Store.Driver == "sqlite" {
				cfg.Store.Driver = "memory"
			}
			cfg.Server.Listen = "127.0.0.1:0"
			cfg.Server.DataDir = t.TempDir()
			var refusedBy []string
			for _, f := range config.Validate(cfg, doc, "") {
				if f.Severity == config.SeverityError {
					refusedBy = append(refusedBy, f.RuleID+" "+f.Message)
				}
			}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			started := false
			err = server.Run(ctx, server.Options{Config: cfg, Doc: doc, APIKey: testKey, Logger: slog.New(slog.DiscardHandler),
				Getenv:    func(string) string { return "" },
				Listening: func(string) { started = true; cancel() }})
			if c.starts {
				if len(refusedBy) > 0 || !started || err != nil {
					t.Errorf("validate errors %q, Run = %v (started %v); want no errors and a start", refusedBy, err, started)
				}
				return
			}
			if started || !errors.Is(err, server.ErrInvalidConfig) {
				t.Errorf("Run = %v (started %v); want refused as ErrInvalidConfig (exit 78)", err, started)
			}
			if !strings.Contains(strings.Join(refusedBy, "\n"), c.rule+" ") {
				t.Errorf("validate errors %q; want one from %s", refusedBy, c.rule)
			}
		})
	}
}

// TestConfig_LimitsMatchConstructors: the bounds the validator holds
// values to are the ones the constructors behind serve enforce.
func TestConfig_LimitsMatchConstructors(t *testing.T) {
	if config.ConsoleMaxIdle != console.DefaultAbsolute {
		t.Errorf("config.ConsoleMaxIdle = %s; want console.DefaultAbsolute %s", config.ConsoleMaxIdle, console.DefaultAbsolute)
	}
	if config.DefaultSSFPollMaxAge != ssf.DefaultPollMaxAge {
		t.Errorf("config.DefaultSSFPollMaxAge = %s; want ssf.DefaultPollMaxAge %s", config.DefaultSSFPollMaxAge, ssf.DefaultPollMaxAge)
	}
	if config.MaxDistinctIPThreshold != anomaly.MaxDistinctIPThreshold {
		t.Errorf("config.MaxDistinctIPThreshold = %d; want anomaly.MaxDistinctIPThreshold %d", config.MaxDistinctIPThreshold, anomaly.MaxDistinctIPThreshold)
	}
}
