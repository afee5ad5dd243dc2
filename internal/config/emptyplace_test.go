package config

import (
	"reflect"
	"slices"
	"strings"
	"testing"
)

// TestValidate_EmptyDataDir: server.data_dir "" put the data directory in
// the process's working directory, so serve started on a new, empty
// ./sessiond.db there (and wrote a new API key beside it), and migrate and
// keys acted on that store. It is an error in either environment; "." says
// the working directory on purpose.
func TestValidate_EmptyDataDir(t *testing.T) {
	for _, tc := range []struct {
		name, yaml, env string
		severity        Severity
	}{
		{"empty", "server:\n  data_dir: \"\"\n", "", SeverityError},
		{"empty in development", "environment: development\nserver:\n  data_dir: ''\n", "", SeverityError},
		{"written with no value", "server:\n  data_dir:\n", "", SeverityError},
		{"default", "", "", ""},
		{"the working directory written out", "server:\n  data_dir: .\n", "", ""},
		{"a path", "server:\n  data_dir: /var/lib/sessiond\n", "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wantFinding(t, tc.yaml, tc.env, "SD-SERVER-009", "server.data_dir", tc.severity, "server.data_dir is empty")
		})
	}
}

// TestApplyEnv_EmptyDataDir: a variable given empty is applied as the empty
// value (it clears a string), not read as unset; for the data directory,
// from SESSIOND_DATA or SESSIOND_SERVER_DATA_DIR, the validator then
// refuses it as it refuses it in the file.
func TestApplyEnv_EmptyDataDir(t *testing.T) {
	for _, name := range []string{"SESSIOND_DATA", "SESSIOND_SERVER_DATA_DIR"} {
		t.Run(name, func(t *testing.T) {
			cfg, doc, err := Parse([]byte("server:\n  data_dir: /var/lib/sessiond\n"), "t.yaml")
			if err != nil {
				t.Fatal(err)
			}
			if err := ApplyEnv(&cfg, []string{name + "="}); err != nil {
				t.Fatalf("ApplyEnv(%s=) = %v", name, err)
			}
			if cfg.Server.DataDir != "" {
				t.Fatalf("ApplyEnv(%s=): server.data_dir = %q; want it empty", name, cfg.Server.DataDir)
			}
			if !slices.ContainsFunc(Validate(cfg, doc, ""), func(f Finding) bool {
				return f.RuleID == "SD-SERVER-009" && f.Severity == SeverityError
			}) {
				t.Errorf("Validate after %s= has no SD-SERVER-009 error", name)
			}
		})
	}
}

// TestApplyEnv_EmptyPlaceRefused: a variable naming a store or the TLS
// pair, given empty (a script's variable left unset), replaced the file's
// value with the empty one: SESSIOND_STORE_NAMESPACE= moved serve, migrate
// and keys from the file's schema to public (another deployment's, maybe),
// SESSIOND_STORE_DSN= a SQLite deployment to a new <data_dir>/sessiond.db,
// both TLS variables empty the listener to plain HTTP. Each is now an error
// naming the variable, and the file's value stands.
func TestApplyEnv_EmptyPlaceRefused(t *testing.T) {
	const file = "store:\n  driver: postgres\n  dsn: postgres://db/s\n  namespace: tenant_a\n" +
		"server:\n  tls_cert_file: /etc/sessiond/cert.pem\n  tls_key_file: /etc/sessiond/key.pem\n"
	for _, name := range []string{"SESSIOND_STORE_DSN", "SESSIOND_STORE_NAMESPACE", "SESSIOND_SERVER_TLS_CERT_FILE", "SESSIOND_SERVER_TLS_KEY_FILE"} {
		t.Run(name, func(t *testing.T) {
			cfg, _, err := Parse([]byte(file), "t.yaml")
			if err != nil {
				t.Fatal(err)
			}
			want := cfg
			err = ApplyEnv(&cfg, []string{name + "="})
			var fes []*FieldError
			if err == nil || !errorsAsAll(err, &fes) || len(fes) != 1 || fes[0].Path != name || !strings.Contains(fes[0].Msg, "given empty") {
				t.Errorf("ApplyEnv(%s=) = %v; want one error naming %s, \"given empty\"", name, err, name)
			}
			if !reflect.DeepEqual(cfg, want) {
				t.Errorf("ApplyEnv(%s=) changed the configuration: %+v; want the file's", name, cfg.Server)
			}
		})
	}
	// Given a value, each applies as before.
	cfg := Default()
	if err := ApplyEnv(&cfg, []string{"SESSIOND_STORE_NAMESPACE=tenant_b"}); err != nil || cfg.Store.Namespace != "tenant_b" {
		t.Errorf("ApplyEnv(SESSIOND_STORE_NAMESPACE=tenant_b) = %v, namespace %q", err, cfg.Store.Namespace)
	}
}
