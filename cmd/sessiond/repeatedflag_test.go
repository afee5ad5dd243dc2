package main

import (
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/internal/config"
	"github.com/sessiond/sessiond/internal/testenv"
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

// TestCLI_EveryRepeatedFlag: every flag of every command, found in the
// command tree (a new flag is covered without a word here), given twice
// with the same value: one that takes a value is refused, exit 2, naming
// it, before the command checks its arguments or does anything (pflag kept
// the last value: `bench --url a --url b` loaded b, `events --since 1h
// --since 7d` read a week, `migrate --config a --config b` migrated b); a
// flag that takes none (--json) or a list (--scope, --subject) may repeat.
// The environment points at nothing (a configuration file that does not
// exist, a closed port), so that a command that took the repetition fails
// at once rather than acting.
func TestCLI_EveryRepeatedFlag(t *testing.T) {
	dir := t.TempDir()
	env := []string{"SESSIOND_CONFIG=" + filepath.Join(dir, "absent.yaml"), "SESSIOND_DATA=" + dir,
		"SESSIOND_URL=http://127.0.0.1:1", "SESSIOND_API_KEY=sdak_" + strings.Repeat("x", 40)}
	// A string names a file that does not exist (--config, --data).
	values := map[string]string{"string": "absent", "int": "1", "duration": "1s", "float64": "1"}
	file := testenv.WriteFile(t, dir, "validate.yaml", "server:\n  listen: 127.0.0.1:0\n")
	a := &app{stdout: io.Discard, stderr: io.Discard}
	root := a.rootCmd()
	root.InitDefaultHelpCmd()
	root.InitDefaultCompletionCmd()
	type flagCase struct {
		name, value string
		once        bool // takes one value
		clash       bool // a bool given true, then false
	}
	cases := 0
	eachCommand(root, func(c *cobra.Command) {
		if !c.HasParent() {
			return // without a command it only prints the help
		}
		path := strings.Fields(c.CommandPath())[1:]
		args := useArgs(c)
		var flags []flagCase
		if c.DisableFlagParsing {
			// It parses its own flags, as the flag package does.
			if c.CommandPath() != "sessiond config validate" {
				t.Fatalf("%s parses its own flags: list them in this test", c.CommandPath())
			}
			for _, name := range config.ValidateFlags() {
				flags = append(flags, flagCase{name: name, value: map[string]string{"env": "production", "format": "json"}[name], once: true})
			}
			args = []string{file}
		} else {
			add := func(f *pflag.Flag) {
				if f.Name == "help" {
					return
				}
				typ := f.Value.Type()
				switch {
				case typ == "bool":
					flags = append(flags, flagCase{name: f.Name}, flagCase{name: f.Name, clash: true})
				case strings.HasSuffix(typ, "Slice") || strings.HasSuffix(typ, "Array"):
					flags = append(flags, flagCase{name: f.Name, value: "verify"})
				case values[typ] == "":
					t.Fatalf("%s --%s: no value for flags of type %s: add one to this test", c.CommandPath(), f.Name, typ)
				default:
					flags = append(flags, flagCase{name: f.Name, value: values[typ], once: true})
				}
			}
			c.LocalFlags().VisitAll(add)
			c.InheritedFlags().VisitAll(add)
		}
		for _, f := range flags {
			cases++
			first, second := []string{"--" + f.name}, []string{"--" + f.name}
			if f.value != "" {
				first, second = []string{"--" + f.name, f.value}, []string{"--" + f.name + "=" + f.value}
			}
			name := strings.Join(path, " ") + " --" + f.name
			if f.clash {
				// Given two ways, the last won without a word:
				// `--create=true --create=false` did not create.
				first, second = []string{"--" + f.name + "=true"}, []string{"--" + f.name + "=false"}
				name += " true then false"
			}
			// Once before the arguments, once after them.
			line := append(append(append(append([]string{}, path...), first...), args...), second...)
			t.Run(name, func(t *testing.T) {
				_, errOut, code := runInProcess(env, line...)
				refused := strings.Contains(errOut, "--"+f.name+" given 2 times")
				switch {
				case f.once && (code != exitUsage || !refused):
					t.Errorf("sessiond %q = exit %d, %q; want exit %d, \"--%s given 2 times\"", line, code, errOut, exitUsage, f.name)
				case f.clash && (code != exitUsage || !strings.Contains(errOut, "--"+f.name+" given both true and false")):
					t.Errorf("sessiond %q = exit %d, %q; want exit %d, \"--%s given both true and false\"", line, code, errOut, exitUsage, f.name)
				case !f.once && !f.clash && strings.Contains(errOut, "given"):
					t.Errorf("sessiond %q = exit %d, %q; want --%s taken twice", line, code, errOut, f.name)
				}
			})
		}
	})
	if cases < 40 {
		t.Errorf("%d flags tried; the command tree has more", cases)
	}
}

// useArgs is a placeholder for each argument c's Use line names (the
// first choice of "verify|refresh", the ID of "revoke ID"), up to the
// first flag or optional part.
func useArgs(c *cobra.Command) []string {
	var args []string
	for _, w := range strings.Fields(c.Use)[1:] {
		if strings.HasPrefix(w, "[") || strings.HasPrefix(w, "-") {
			break
		}
		w, _, _ = strings.Cut(w, "|")
		args = append(args, w)
	}
	return args
}

// TestCLI_EmptyDeploymentFlagRefused: --config, --listen or --data given
// empty (a script's unset variable: `--config "$STAGING_CONFIG"`) was read
// as left out, so any command (one that revokes, or creates, revokes or
// rescopes a key; migrate; a listing that creates the store) acted on the
// deployment SESSIOND_CONFIG, SESSIOND_DATA or the
// defaults name (production, on its host), as an empty --url would. It is
// a usage error (exit 2) with nothing sent or stored.
func TestCLI_EmptyDeploymentFlagRefused(t *testing.T) {
	id := string(sessiond.NewSessionID())
	asked := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		asked++
		if r.Method == http.MethodDelete {
			w.WriteHeader(http.StatusNoContent)
			return
		}
		w.Write([]byte(`{"revoked":1}`))
	}))
	t.Cleanup(srv.Close)
	data := t.TempDir()
	if _, errOut, code := runInProcess([]string{"SESSIOND_DATA=" + data}, "keys", "list", "--create"); code != 0 {
		t.Fatalf("keys list --create = exit %d, %q", code, errOut)
	}
	keys := func() string {
		out, errOut, code := runInProcess([]string{"SESSIOND_DATA=" + data}, "apikey", "list", "--json")
		if code != 0 {
			t.Fatalf("apikey list = exit %d, %q", code, errOut)
		}
		return out
	}
	ring := func() string {
		out, errOut, code := runInProcess([]string{"SESSIOND_DATA=" + data}, "keys", "list", "--json")
		if code != 0 {
			t.Fatalf("keys list = exit %d, %q", code, errOut)
		}
		return out
	}
	env := []string{"SESSIOND_URL=" + srv.URL, "SESSIOND_API_KEY=sdak_probe", "SESSIOND_DATA=" + data}
	rings := ring()
	// What the message says leaving the flag out means.
	const (
		configMsg = "--config must not be empty; leave it out for SESSIOND_CONFIG or the defaults"
		listenMsg = "--listen must not be empty; leave it out for SESSIOND_LISTEN or server.listen"
		dataMsg   = "--data must not be empty; leave it out for SESSIOND_DATA or server.data_dir"
	)
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"incident config empty", []string{"incident", "revoke", "--all", "--reason", "a", "--config", ""}, configMsg},
		{"incident listen empty", []string{"incident", "revoke", "--all", "--reason", "a", "--listen="}, listenMsg},
		{"sessions revoke data empty", []string{"sessions", "revoke", id, "--data", ""}, dataMsg},
		{"sessions revoke-subject config empty", []string{"sessions", "revoke-subject", "alice", "--config="}, configMsg},
		{"apikey create data empty", []string{"apikey", "create", "--name", "a", "--data", ""}, dataMsg},
		{"apikey revoke config empty", []string{"apikey", "revoke", "key_abcdefghijklm", "--config", ""}, configMsg},
		{"apikey set-scopes data empty", []string{"apikey", "set-scopes", "key_abcdefghijklm", "verify", "--data="}, dataMsg},
		{"keys rotate data empty", []string{"keys", "rotate", "--data", ""}, dataMsg},
		{"keys rotate listen empty", []string{"keys", "rotate", "--listen", ""}, listenMsg},
		// Not only the commands that revoke or change keys: migrate would
		// migrate another deployment's store, the listings with --create
		// make one.
		{"migrate data empty", []string{"migrate", "--data", ""}, dataMsg},
		{"migrate config empty", []string{"migrate", "--config="}, configMsg},
		{"keys list create data empty", []string{"keys", "list", "--create", "--data", ""}, dataMsg},
		{"apikey list create config empty", []string{"apikey", "list", "--create", "--config", ""}, configMsg},
		{"healthcheck listen empty", []string{"healthcheck", "--listen="}, listenMsg},
	} {
		t.Run(tc.name, func(t *testing.T) {
			asked = 0
			_, errOut, code := runInProcess(env, tc.args...)
			if code != exitUsage || asked != 0 || !strings.Contains(errOut, tc.want) {
				t.Errorf("sessiond %q = exit %d, %d requests (stderr %q); want exit %d, none, %q", tc.args, code, asked, errOut, exitUsage, tc.want)
			}
			if got := keys(); got != "" {
				t.Errorf("a key was stored: %q", got)
			}
			if got := ring(); got != rings {
				t.Errorf("the signing keys changed:\n%s\nwant\n%s", got, rings)
			}
		})
	}
}

// TestCLI_EveryEmptyURLRefused: --url given empty (a script's unset
// variable: `bench verify --url "$STAGING"`) was read as left out outside
// the commands that revoke, so bench loaded SESSIOND_URL's server
// (production, on its host), healthcheck reported that server's health,
// events and sessions list read its data. Every command that has --url,
// found in the command tree, refuses it as a usage error (exit 2) naming
// what leaving it out means, with nothing sent; so does every command,
// wherever --url is given (root or subcommand, spelt --url= too).
func TestCLI_EveryEmptyURLRefused(t *testing.T) {
	asked := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		asked++
		w.Write([]byte(`{"revoked":1}`))
	}))
	t.Cleanup(srv.Close)
	env := []string{"SESSIOND_URL=" + srv.URL, "SESSIOND_API_KEY=sdak_" + strings.Repeat("x", 40), "SESSIOND_DATA=" + t.TempDir()}
	a := &app{stdout: io.Discard, stderr: io.Discard}
	root := a.rootCmd()
	cases := 0
	eachCommand(root, func(c *cobra.Command) {
		if c.Flags().Lookup("url") == nil && c.InheritedFlags().Lookup("url") == nil {
			return
		}
		path := strings.Fields(c.CommandPath())[1:]
		line := append(path, useArgs(c)...)
		// What the command needs beyond its arguments to get as far as
		// asking (incident revoke's selection and reason).
		if c.CommandPath() == "sessiond incident revoke" {
			line = append(line, "--all", "--reason", "r")
		}
		if c.CommandPath() == "sessiond sessions list" {
			line = append(line, "--subject", "alice")
		}
		for _, empty := range [][]string{{"--url", ""}, {"--url="}} {
			cases++
			args := append(append([]string(nil), line...), empty...)
			t.Run(strings.Join(args, " "), func(t *testing.T) {
				asked = 0
				_, errOut, code := runInProcess(env, args...)
				const want = "--url must not be empty; leave it out for SESSIOND_URL or http"
				if code != exitUsage || asked != 0 || !strings.Contains(errOut, want) {
					t.Errorf("sessiond %q = exit %d, %d requests (stderr %q); want exit %d, none, %q", args, code, asked, errOut, exitUsage, want)
				}
			})
		}
	})
	if cases < 14 { // bench, events, healthcheck, incident revoke, the sessions commands
		t.Errorf("%d cases tried; the command tree has more commands with --url", cases)
	}
}

// TestCLI_EmptyFlagMessage: a flag refused empty whose absence means no
// selection (--except, an events filter) says so in words: the message
// read "leave it out for none".
func TestCLI_EmptyFlagMessage(t *testing.T) {
	env := []string{"SESSIOND_URL=http://127.0.0.1:1", "SESSIOND_API_KEY=sdak_" + strings.Repeat("x", 40)}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"sessions", "revoke-subject", "alice", "--except", ""}, "--except must not be empty; if none is meant, leave the flag out"},
		{[]string{"events", "--subject="}, "--subject must not be empty; if none is meant, leave the flag out"},
		{[]string{"incident", "revoke", "--all", "--reason", "r", "--issued-before", ""}, "--issued-before must not be empty; if none is meant, leave the flag out"},
	} {
		_, errOut, code := runInProcess(env, tc.args...)
		if code != exitUsage || !strings.Contains(errOut, tc.want) || strings.Contains(errOut, "for none") {
			t.Errorf("sessiond %q = exit %d, %q; want exit %d, %q", tc.args, code, errOut, exitUsage, tc.want)
		}
	}
}

// TestCLI_BenchEmptyAPIKeyRefused: bench --api-key given empty (a script's
// unset variable) was read as left out, and bench sent SESSIOND_API_KEY or
// <data>/api-key, another deployment's admin key, perhaps, to the server
// --url names. It is a usage error (exit 2) with nothing sent.
func TestCLI_BenchEmptyAPIKeyRefused(t *testing.T) {
	asked := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { asked++ }))
	t.Cleanup(srv.Close)
	env := []string{"SESSIOND_API_KEY=sdak_" + strings.Repeat("x", 40), "SESSIOND_DATA=" + t.TempDir()}
	for _, empty := range [][]string{{"--api-key", ""}, {"--api-key="}} {
		args := append([]string{"bench", "verify", "--url", srv.URL, "--duration", "1s"}, empty...)
		_, errOut, code := runInProcess(env, args...)
		const want = "--api-key must not be empty; leave it out for SESSIOND_API_KEY or <data>/api-key"
		if code != exitUsage || asked != 0 || !strings.Contains(errOut, want) {
			t.Errorf("sessiond %q = exit %d, %d requests (stderr %q); want exit %d, none, %q", args, code, asked, errOut, exitUsage, want)
		}
	}
}
