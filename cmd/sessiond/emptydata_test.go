package main

import (
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync/atomic"
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

// TestCLI_EmptyDataDirKeyRefused: the commands that ask the running server
// read its API key from <data_dir>/api-key when SESSIOND_API_KEY is unset;
// with SESSIOND_DATA="" that was ./api-key, whatever deployment's key lay
// in the working directory, sent to the server as this one's. They refuse
// it (SD-SERVER-009) before they ask anything; given SESSIOND_API_KEY they
// read no file and go on.
func TestCLI_EmptyDataDirKeyRefused(t *testing.T) {
	cwd := t.TempDir()
	t.Chdir(cwd)
	testenv.WriteFile(t, cwd, "api-key", "sdak_"+strings.Repeat("a", 64)+"\n")
	var asked atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		asked.Add(1)
		http.Error(w, "no", http.StatusServiceUnavailable)
	}))
	t.Cleanup(srv.Close)
	env := []string{"SESSIOND_DATA=", "SESSIOND_URL=" + srv.URL}
	for _, args := range [][]string{
		{"sessions", "list", "--subject", "alice"},
		{"sessions", "revoke-subject", "alice"},
		{"events"},
		{"incident", "revoke", "--subject", "alice", "--reason", "test"},
		{"bench", "create", "--duration", "1s", "--concurrency", "1"},
	} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			_, errOut, code := runInProcess(env, args...)
			if code != exitFailure || !strings.Contains(errOut, "SD-SERVER-009") {
				t.Errorf("sessiond %q with SESSIOND_DATA= = exit %d, %q; want exit %d naming SD-SERVER-009", args, code, errOut, exitFailure)
			}
			if n := asked.Swap(0); n != 0 {
				t.Errorf("sessiond %q asked the server %d times with ./api-key; want nothing asked", args, n)
			}
		})
	}
	// Given the key, the data directory is not read: the server is asked.
	_, errOut, _ := runInProcess(append(env, "SESSIOND_API_KEY=sdak_"+strings.Repeat("b", 64)), "sessions", "list", "--subject", "alice")
	if strings.Contains(errOut, "SD-SERVER-009") || asked.Load() == 0 {
		t.Errorf("sessions list with SESSIOND_API_KEY and SESSIOND_DATA= = %q, server asked %d times; want it asked", errOut, asked.Load())
	}
}
