package config

import (
	"strings"
	"testing"
)

// TestValidate_OperatorTraps: what issue 15 found the validator missed or
// got wrong. Each case names a finding that must (or must not) appear.
func TestValidate_OperatorTraps(t *testing.T) {
	cases := []struct {
		name     string
		yaml     string
		rule     string
		path     string
		severity Severity // "" : the finding must be absent
		msg      string
	}{
		{"dsn keyword password", "store:\n  driver: postgres\n  dsn: host=db user=app password=hunter2 dbname=s\n",
			"SD-STORE-004", "store.dsn", SeverityWarning, "password=…"},
		{"dsn keyword password uppercase spaced", "store:\n  driver: postgres\n  dsn: host=db PASSWORD = 'a b'\n",
			"SD-STORE-004", "store.dsn", SeverityWarning, "password"},
		{"dsn query password", "store:\n  driver: postgres\n  dsn: postgres://app@db/s?sslmode=verify-full&password=hunter2\n",
			"SD-STORE-004", "store.dsn", SeverityWarning, "query parameter"},
		{"dsn without password", "store:\n  driver: postgres\n  dsn: host=db user=app passfile=/run/pgpass dbname=s\n",
			"SD-STORE-004", "store.dsn", "", ""},
		// pgx ends the user info at the last '@': these DSNs work although
		// url.Parse refuses them.
		{"dsn url password with hash", "store:\n  driver: postgres\n  dsn: \"postgres://app:s3cr#t@db/s\"\n",
			"SD-STORE-004", "store.dsn", SeverityWarning, "user:password@"},
		{"dsn url password with slash", "store:\n  driver: postgres\n  dsn: \"postgres://app:pa/ss@db/s\"\n",
			"SD-STORE-004", "store.dsn", SeverityWarning, "user:password@"},
		{"dsn query sslpassword", "store:\n  driver: postgres\n  dsn: postgres://app@db/s?sslpassword=hunter2\n",
			"SD-STORE-004", "store.dsn", SeverityWarning, "sslpassword query parameter"},
		{"dsn keyword sslpassword", "store:\n  driver: postgres\n  dsn: host=db sslpassword=hunter2\n",
			"SD-STORE-004", "store.dsn", SeverityWarning, "password=…"},
		{"dsn url without password", "store:\n  driver: postgres\n  dsn: \"postgres://app@db:5432/s?application_name=a:b@c\"\n",
			"SD-STORE-004", "store.dsn", "", ""},
		{"login url backslash is another host", "gateway:\n  enabled: true\n  login_url: \"/\\\\evil.example/login\"\n",
			"SD-GATEWAY-001", "gateway.login_url", SeverityError, "neither a path"},
		{"login url path", "gateway:\n  enabled: true\n  login_url: /login\n",
			"SD-GATEWAY-001", "gateway.login_url", "", ""},
		{"negative write groups", "store:\n  driver: postgres\n  dsn: host=db\n  write_groups: -3\n",
			"SD-STORE-006", "store.write_groups", SeverityError, "is -3"},
		{"one write group", "store:\n  driver: postgres\n  dsn: host=db\n  write_groups: 1\n",
			"SD-STORE-006", "store.write_groups", "", ""},
		{"migrate typo", "store:\n  driver: postgres\n  dsn: host=db\n  migrate: manuel\n",
			"SD-STORE-008", "store.migrate", SeverityError, "want auto or manual"},
		{"migrate empty is auto", "store:\n  driver: postgres\n  dsn: host=db\n  migrate: \"\"\n",
			"SD-STORE-008", "store.migrate", "", ""},
		{"migrate manual", "store:\n  driver: postgres\n  dsn: host=db\n  migrate: manual\n",
			"SD-STORE-008", "store.migrate", "", ""},
		{"migrate default", "store:\n  driver: sqlite\n",
			"SD-STORE-008", "store.migrate", "", ""},
		{"migrate manual on redis", "store:\n  driver: redis\n  dsn: redis://db:6379/0\n  migrate: manual\n",
			"SD-STORE-009", "store.migrate", SeverityWarning, "store.driver is redis"},
		{"migrate manual on memory", "store:\n  driver: memory\n  migrate: manual\n",
			"SD-STORE-009", "store.migrate", SeverityWarning, "store.driver is memory"},
		{"migrate manual on sqlite", "store:\n  driver: sqlite\n  migrate: manual\n",
			"SD-STORE-009", "store.migrate", "", ""},
		{"migrate auto on redis", "store:\n  driver: redis\n  dsn: redis://db:6379/0\n  migrate: auto\n",
			"SD-STORE-009", "store.migrate", "", ""},
		{"revocation replicas not a number", "store:\n  driver: redis\n  dsn: redis://db:6379/0\n  revocation_replicas: one\n",
			"SD-STORE-012", "store.revocation_replicas", SeverityError, `is "one"`},
		{"revocation replicas negative", "store:\n  driver: redis\n  dsn: redis://db:6379/0\n  revocation_replicas: \"-1\"\n",
			"SD-STORE-012", "store.revocation_replicas", SeverityError, `is "-1"`},
		{"revocation replicas off", "store:\n  driver: redis\n  dsn: redis://db:6379/0\n  revocation_replicas: \"0\"\n",
			"SD-STORE-012", "store.revocation_replicas", "", ""},
		{"revocation replicas two", "store:\n  driver: redis\n  dsn: redis://db:6379/0\n  revocation_replicas: 2\n",
			"SD-STORE-012", "store.revocation_replicas", "", ""},
		{"revocation replicas default", "store:\n  driver: redis\n  dsn: redis://db:6379/0\n",
			"SD-STORE-012", "store.revocation_replicas", "", ""},
		{"revocation wait zero", "store:\n  driver: redis\n  dsn: redis://db:6379/0\n  revocation_wait: 0s\n",
			"SD-STORE-012", "store.revocation_wait", SeverityError, "must be positive"},
		// Only Redis reads them: a store section built without them (a
		// config.Store literal) for another driver is no error.
		{"revocation wait zero, sqlite", "store:\n  driver: sqlite\n  revocation_wait: 0s\n  revocation_replicas: one\n",
			"SD-STORE-012", "store.revocation_wait", "", ""},
		{"revocation wait 200ms", "store:\n  driver: redis\n  dsn: redis://db:6379/0\n  revocation_wait: 200ms\n",
			"SD-STORE-012", "store.revocation_wait", "", ""},
		{"write groups on sqlite", "store:\n  driver: sqlite\n  write_groups: 2\n",
			"SD-STORE-007", "store.write_groups", SeverityWarning, "store.driver is sqlite"},
		{"write groups on postgres", "store:\n  driver: postgres\n  dsn: host=db\n  write_groups: 2\n",
			"SD-STORE-007", "store.write_groups", "", ""},
		{"write groups left at 0 on redis", "store:\n  driver: redis\n  dsn: redis://cache:6379/0\n",
			"SD-STORE-007", "store.write_groups", "", ""},
		{"grant cache sized for the database strategy", "strategy: database\nrefresh:\n  cache_size: 1000\n",
			"SD-REFRESH-002", "refresh.cache_size", SeverityWarning, "strategy is database"},
		{"grant cache sized without rotation", "refresh:\n  rotation: false\n  cache_size: 1000\n",
			"SD-REFRESH-002", "refresh.cache_size", SeverityWarning, "refresh.rotation is off"},
		{"grant cache sized for hybrid", "refresh:\n  cache_size: 1000\n",
			"SD-REFRESH-002", "refresh.cache_size", "", ""},
		{"grant cache off in the jwt strategy", "strategy: jwt\nrefresh:\n  cache_size: 0\n",
			"SD-REFRESH-002", "refresh.cache_size", "", ""},
		{"redis keeps 90 days of events", "store:\n  driver: redis\n  dsn: redis://cache:6379/0\n",
			"SD-STORE-005", "events.retention", SeverityInfo, "2160h on the redis store"},
		{"redis keeps two weeks of events", "store:\n  driver: redis\n  dsn: redis://cache:6379/0\nevents:\n  retention: 336h\n",
			"SD-STORE-005", "events.retention", "", ""},
		{"postgres keeps 90 days of events", "store:\n  driver: postgres\n  dsn: host=db\n",
			"SD-STORE-005", "events.retention", "", ""},
		{"duplicate webhook names", "webhooks:\n  - name: siem\n    url: https://a.example/h\n  - name: siem\n    url: https://b.example/h\n",
			"SD-WEBHOOK-003", "webhooks.1.name", SeverityError, `"siem"`},
		{"webhook named like a Shared Signals stream", "webhooks:\n  - name: ssf:3f2a\n    url: https://a.example/h\n",
			"SD-WEBHOOK-003", "webhooks.0.name", SeverityError, `starts with "ssf:"`},
		{"distinct webhook names", "webhooks:\n  - name: a\n    url: https://a.example/h\n  - url: https://a.example/h\n",
			"SD-WEBHOOK-003", "webhooks.1.name", "", ""},
		{"idle of hours on b2c", "preset: b2c\nlifetimes:\n  idle: 4h\n",
			"SD-LIFE-006", "lifetimes.idle", SeverityWarning, "NIST SP 800-63B-4"},
		{"idle of hours on b2b", "preset: b2b\nlifetimes:\n  idle: 4h\n",
			"SD-LIFE-006", "lifetimes.idle", SeverityInfo, "differs from the default"},
		{"idle within an hour", "preset: b2c\nlifetimes:\n  idle: 45m\n",
			"SD-LIFE-006", "lifetimes.idle", SeverityInfo, "differs from the default"},
		{"survival capped by the absolute timeout", "lifetimes:\n  access: 1h\n  idle: 30m\n  absolute: 1h\n",
			"SD-LIFE-005", "lifetimes.idle", SeverityInfo, "survives up to 1h\x00"},
		{"signing keys without a KEK", "environment: production\n",
			"SD-JWT-009", "signing.kek_file", SeverityInfo, "stored in clear"},
		{"signing keys with a KEK file", "environment: production\nsigning:\n  kek_file: /etc/sessiond/kek\n",
			"SD-JWT-009", "signing.kek_file", "", ""},
		{"database strategy keeps no signing keys", "environment: production\nstrategy: database\n",
			"SD-JWT-009", "signing.kek_file", "", ""},
		{"database strategy signing SETs", "environment: production\nstrategy: database\nssf:\n  transmitter:\n    enabled: true\n",
			"SD-JWT-009", "signing.kek_file", SeverityInfo, "stored in clear"},
		{"survival below the absolute timeout", "lifetimes:\n  access: 1h\n  idle: 30m\n",
			"SD-LIFE-005", "lifetimes.idle", SeverityInfo, "survives up to 1h30m"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			wantFinding(t, c.yaml, EnvProduction, c.rule, c.path, c.severity, c.msg)
		})
	}
}

// TestParse_Messages: messages that used to point the wrong way.
func TestParse_Messages(t *testing.T) {
	for _, tc := range []struct{ name, yaml, path, want, not string }{
		{"unknown key in a webhook suggests its sibling", "webhooks:\n  - url: https://a.example/h\n    secret: x\n",
			"webhooks.0.secret", `did you mean "secret_file"`, "cookie.secure"},
		{"unknown top-level key still finds its section", "secure: false\n", "secure", "cookie.secure", ""},
		{"!!bool on a quoted value", "cookie:\n  secure: !!bool \"false\"\n", "cookie.secure", "!!bool tag", "YAML 1.2"},
		{"quoted yes", "cookie:\n  secure: \"yes\"\n", "cookie.secure", "YAML 1.2", ""},
		{"merge key", "cookie:\n  <<: {secure: true}\n", "cookie", "merge keys (<<) are not supported", "keys are plain names"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, doc, _ := Parse([]byte(tc.yaml), "t.yaml")
			if doc == nil {
				t.Fatal("not parsed")
			}
			var msgs []string
			for _, e := range doc.Errors() {
				if e.Path == tc.path {
					msgs = append(msgs, e.Msg)
				}
			}
			all := strings.Join(msgs, "; ")
			if !strings.Contains(all, tc.want) || tc.not != "" && strings.Contains(all, tc.not) {
				t.Errorf("errors at %s = %q; want %q and not %q", tc.path, all, tc.want, tc.not)
			}
		})
	}
}

// TestValidate_KEKInDevelopment: SD-JWT-009 speaks up in production only;
// keys in clear are the norm on a developer's machine.
func TestValidate_KEKInDevelopment(t *testing.T) {
	cfg, doc, err := Parse([]byte("strategy: hybrid\n"), "t.yaml")
	if doc == nil {
		t.Fatalf("Parse: %v", err)
	}
	for env, want := range map[string]bool{EnvDevelopment: false, EnvProduction: true} {
		got := false
		for _, f := range Validate(cfg, doc, env) {
			got = got || f.RuleID == "SD-JWT-009"
		}
		if got != want {
			t.Errorf("Validate(%s) reports SD-JWT-009: %v; want %v", env, got, want)
		}
	}
}

// TestValidate_OldKEKFilesAlone: step 1 of introducing a KEK gives every
// node the KEK in signing.old_kek_files only (docs/operations.md). The
// validator accepts it: nothing about signing.* above info, and SD-JWT-009
// still says the ring is in clear, which it is until step 2.
func TestValidate_OldKEKFilesAlone(t *testing.T) {
	cfg, doc, err := Parse([]byte("environment: production\nsigning:\n  old_kek_files: [/etc/sessiond/kek-new]\n"), "t.yaml")
	if err != nil || doc == nil {
		t.Fatalf("Parse: %v", err)
	}
	for _, f := range Validate(cfg, doc, EnvProduction) {
		if strings.HasPrefix(f.Path, "signing.") && f.Severity != SeverityInfo {
			t.Errorf("Validate = %s %s at %s: %q; want nothing above info", f.RuleID, f.Severity, f.Path, f.Message)
		}
	}
	wantFinding(t, "environment: production\nsigning:\n  old_kek_files: [/etc/sessiond/kek-new]\n", EnvProduction,
		"SD-JWT-009", "signing.kek_file", SeverityInfo, "stored in clear")
}
