package main

import (
	"net"
	"os"
	"strings"
	"testing"

	"github.com/sessiond/sessiond/internal/testenv"
)

// TestCLI_EmptyDataDirRefused: SESSIOND_DATA="" (a script's variable left
// unset) or server.data_dir: "" put the data directory in the working
// directory: serve started on a new, empty ./sessiond.db there and wrote a
// new API key beside it, and migrate and keys acted on that store. Every
// one of them now refuses it (SD-SERVER-009) and creates nothing, serve
// with exit 78 even with --insecure-dev, config validate with 1.
func TestCLI_EmptyDataDirRefused(t *testing.T) {
	cwd := t.TempDir()
	t.Chdir(cwd)
	conf := testenv.WriteFile(t, t.TempDir(), "empty-data.yaml", "server:\n  data_dir: \"\"\n")
	// A port held here: serve on the old code failed to listen (exit 1)
	// rather than serve until the test timed out.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	listen := "SESSIOND_LISTEN=" + ln.Addr().String()
	for _, tc := range []struct {
		name string
		env  []string
		args []string
		code int
	}{
		{"serve SESSIOND_DATA", []string{"SESSIOND_DATA=", listen}, []string{"serve"}, exitConfig},
		{"serve SESSIOND_SERVER_DATA_DIR", []string{"SESSIOND_SERVER_DATA_DIR=", listen}, []string{"serve"}, exitConfig},
		{"serve file", []string{"SESSIOND_CONFIG=" + conf, listen}, []string{"serve"}, exitConfig},
		{"serve insecure-dev", []string{"SESSIOND_DATA=", listen}, []string{"serve", "--insecure-dev"}, exitConfig},
		{"migrate", []string{"SESSIOND_DATA="}, []string{"migrate", "--create"}, exitFailure},
		{"migrate file", []string{"SESSIOND_CONFIG=" + conf}, []string{"migrate", "--create"}, exitFailure},
		{"keys", []string{"SESSIOND_DATA="}, []string{"keys", "list", "--create"}, exitFailure},
		{"apikey", []string{"SESSIOND_DATA="}, []string{"apikey", "create", "--name", "a", "--create"}, exitFailure},
		{"config validate", nil, []string{"config", "validate", conf}, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, errOut, code := runInProcess(tc.env, tc.args...)
			if code != tc.code || !strings.Contains(out+errOut, "SD-SERVER-009") {
				t.Errorf("sessiond %q = exit %d, %q; want exit %d naming SD-SERVER-009", tc.args, code, errOut, tc.code)
			}
			if ents, err := os.ReadDir(cwd); err != nil || len(ents) != 0 {
				for _, e := range ents {
					os.RemoveAll(e.Name())
				}
				t.Errorf("the working directory holds %v (err %v); want nothing created", ents, err)
			}
		})
	}
}

// TestCLI_EmptyStoreVariableRefused: SESSIOND_STORE_DSN,
// SESSIOND_STORE_NAMESPACE or the TLS variables given empty replaced the
// file's value: migrate created a new <data>/sessiond.db in place of the
// file's SQLite path, keys acted on the public schema rather than the
// file's (here on SQLite, which has none: the refusal comes before the
// store is chosen), serve listened in plain HTTP. Each is refused now,
// naming the variable, with nothing opened or created.
func TestCLI_EmptyStoreVariableRefused(t *testing.T) {
	data := t.TempDir()
	conf := testenv.WriteFile(t, t.TempDir(), "store.yaml", "store:\n  dsn: "+data+"/sessions.db\n  namespace: tenant_a\n")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	base := []string{"SESSIOND_CONFIG=" + conf, "SESSIOND_DATA=" + data, "SESSIOND_LISTEN=" + ln.Addr().String()}
	for _, tc := range []struct {
		name, variable string
		args           []string
		code           int
	}{
		{"migrate dsn", "SESSIOND_STORE_DSN", []string{"migrate", "--create"}, exitFailure},
		{"keys namespace", "SESSIOND_STORE_NAMESPACE", []string{"keys", "list", "--create"}, exitFailure},
		{"serve tls", "SESSIOND_SERVER_TLS_CERT_FILE", []string{"serve"}, exitConfig},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env := append(append([]string{}, base...), tc.variable+"=")
			if tc.variable == "SESSIOND_SERVER_TLS_CERT_FILE" {
				env = append(env, "SESSIOND_SERVER_TLS_KEY_FILE=")
			}
			_, errOut, code := runInProcess(env, tc.args...)
			if code != tc.code || !strings.Contains(errOut, tc.variable) || !strings.Contains(errOut, "given empty") {
				t.Errorf("sessiond %q with %s= = exit %d, %q; want exit %d naming it, \"given empty\"", tc.args, tc.variable, code, errOut, tc.code)
			}
			if ents, err := os.ReadDir(data); err != nil || len(ents) != 0 {
				for _, e := range ents {
					os.RemoveAll(data + "/" + e.Name())
				}
				t.Errorf("the data directory holds %v (err %v); want nothing created", ents, err)
			}
		})
	}
}
