package main

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/sessiond/sessiond"
)

// TestCLI_RevokeRepeatedFlagRefused: a single-value flag of a command that
// revokes, given twice, kept the last value without a word (pflag's rule):
// `--reason a --reason b` recorded b, `--config prod.yaml --config
// staging.yaml` revoked on staging's server. It is now a usage error
// (exit 2) with nothing sent, as a repeated selector is; given the same
// value twice too, as the API refuses a parameter given twice. Given once,
// the command reaches the server as before.
func TestCLI_RevokeRepeatedFlagRefused(t *testing.T) {
	id := string(sessiond.NewSessionID())
	asked := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		asked++
		if r.Method == http.MethodDelete && strings.HasPrefix(r.URL.Path, "/v1/sessions/") {
			w.WriteHeader(http.StatusNoContent)
			return
		}
		w.Write([]byte(`{"revoked":1}`))
	}))
	t.Cleanup(srv.Close)
	env := []string{"SESSIOND_URL=" + srv.URL, "SESSIOND_API_KEY=sdak_probe"}
	dir := t.TempDir()
	for _, tc := range []struct {
		name string
		args []string
		ok   bool
	}{
		{"incident reason twice", []string{"incident", "revoke", "--all", "--reason", "a", "--reason", "b"}, false},
		{"incident same reason twice", []string{"incident", "revoke", "--all", "--reason", "a", "--reason=a"}, false},
		{"incident config twice", []string{"incident", "revoke", "--all", "--reason", "a", "--config", dir + "/a.yaml", "--config", dir + "/b.yaml"}, false},
		{"incident listen twice", []string{"incident", "revoke", "--all", "--reason", "a", "--listen", "127.0.0.1:1", "--listen", "127.0.0.1:2"}, false},
		{"sessions revoke config twice", []string{"sessions", "revoke", id, "--config", dir + "/a.yaml", "--config", dir + "/b.yaml"}, false},
		{"sessions revoke-subject data twice", []string{"sessions", "revoke-subject", "alice", "--data", dir, "--data", dir}, false},
		{"incident reason once", []string{"incident", "revoke", "--all", "--reason", "a"}, true},
		{"sessions revoke once", []string{"sessions", "revoke", id}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			asked = 0
			_, errOut, code := runInProcess(env, tc.args...)
			switch {
			case tc.ok && (code != 0 || asked != 1):
				t.Errorf("sessiond %q = exit %d, %d requests (stderr %q); want exit 0, 1 request", tc.args, code, asked, errOut)
			case !tc.ok && (code != exitUsage || asked != 0 || !strings.Contains(errOut, "given 2 times")):
				t.Errorf("sessiond %q = exit %d, %d requests (stderr %q); want exit %d, none, \"given 2 times\"", tc.args, code, asked, errOut, exitUsage)
			}
		})
	}
}

// TestCLI_KeyCreateRepeatedFlagRefused: `apikey create --name a --name b`
// created a key named b without a word; a repeated --name, or --data
// (the store the key goes to, or the one revoked from) on the commands
// that create or revoke keys, is now a usage error that stores nothing.
func TestCLI_KeyCreateRepeatedFlagRefused(t *testing.T) {
	data, other := t.TempDir(), t.TempDir()
	env := []string{"SESSIOND_DATA=" + data}
	for _, d := range []string{data, other} {
		if _, errOut, code := runInProcess([]string{"SESSIOND_DATA=" + d}, "keys", "list", "--create"); code != 0 {
			t.Fatalf("keys list --create = exit %d, %q", code, errOut)
		}
	}
	keys := func(d string) string {
		out, errOut, code := runInProcess([]string{"SESSIOND_DATA=" + d}, "apikey", "list", "--json")
		if code != 0 {
			t.Fatalf("apikey list = exit %d, %q", code, errOut)
		}
		return out
	}
	ring := func(d string) string {
		out, errOut, code := runInProcess([]string{"SESSIOND_DATA=" + d}, "keys", "list", "--json")
		if code != 0 {
			t.Fatalf("keys list = exit %d, %q", code, errOut)
		}
		return out
	}
	rings := ring(data) + ring(other)
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"create name twice", []string{"apikey", "create", "--name", "a", "--name", "b"}},
		{"create same name twice", []string{"apikey", "create", "--name", "a", "--name=a"}},
		{"create data twice", []string{"apikey", "create", "--name", "a", "--data", other, "--data", data}},
		{"create config twice", []string{"apikey", "create", "--name", "a", "--config", data + "/a.yaml", "--config", data + "/b.yaml"}},
		{"revoke data twice", []string{"apikey", "revoke", "key_abcdefghijklm", "--data", other, "--data", data}},
		{"keys rotate data twice", []string{"keys", "rotate", "--data", other, "--data", data}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, errOut, code := runInProcess(env, tc.args...)
			if code != exitUsage || !strings.Contains(errOut, "given 2 times") {
				t.Errorf("sessiond %q = exit %d, %q; want %d, \"given 2 times\"", tc.args, code, errOut, exitUsage)
			}
			if got := keys(data) + keys(other); got != "" {
				t.Errorf("a key was stored: %q", got)
			}
			if got := ring(data) + ring(other); got != rings {
				t.Errorf("the signing keys changed:\n%s\nwant\n%s", got, rings)
			}
		})
	}
	if _, errOut, code := runInProcess(env, "apikey", "create", "--name", "once"); code != 0 || !strings.Contains(keys(data), `"once"`) {
		t.Errorf("apikey create --name once = exit %d, %q; want a key named once", code, errOut)
	}
}

// TestCLI_KeySetScopesRepeatedFlagRefused: `apikey set-scopes` changes
// what a key may do, as create and revoke do, yet took `--data a --data b`
// (or --config twice) as the last without a word, widening the scopes of
// a key in the store named last. It is refused alike, the scopes unchanged.
func TestCLI_KeySetScopesRepeatedFlagRefused(t *testing.T) {
	data, other := t.TempDir(), t.TempDir()
	env := []string{"SESSIOND_DATA=" + data}
	for _, d := range []string{data, other} {
		if _, errOut, code := runInProcess([]string{"SESSIOND_DATA=" + d}, "keys", "list", "--create"); code != 0 {
			t.Fatalf("keys list --create = exit %d, %q", code, errOut)
		}
	}
	if _, errOut, code := runInProcess(env, "apikey", "create", "--name", "a"); code != 0 {
		t.Fatalf("apikey create = exit %d, %q", code, errOut)
	}
	list := func() string {
		out, errOut, code := runInProcess(env, "apikey", "list", "--json")
		if code != 0 {
			t.Fatalf("apikey list = exit %d, %q", code, errOut)
		}
		return out
	}
	before := list()
	_, rest, _ := strings.Cut(before, `"id":"`)
	id, _, _ := strings.Cut(rest, `"`)
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"data twice", []string{"apikey", "set-scopes", id, "verify,ssf", "--data", other, "--data", data}},
		{"config twice", []string{"apikey", "set-scopes", id, "verify,ssf", "--config", data + "/a.yaml", "--config", data + "/b.yaml"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, errOut, code := runInProcess(env, tc.args...)
			if code != exitUsage || !strings.Contains(errOut, "given 2 times") {
				t.Errorf("sessiond %q = exit %d, %q; want %d, \"given 2 times\"", tc.args, code, errOut, exitUsage)
			}
			if got := list(); got != before {
				t.Errorf("the key changed: %s; want %s", got, before)
			}
		})
	}
	if _, errOut, code := runInProcess(env, "apikey", "set-scopes", id, "verify,ssf", "--data", data); code != 0 || !strings.Contains(list(), `"ssf"`) {
		t.Errorf("apikey set-scopes --data once = exit %d, %q; want the scopes set", code, errOut)
	}
}
