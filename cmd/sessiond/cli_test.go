package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/spf13/pflag"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/client"
)

func TestCLI_Basics(t *testing.T) {
	cases := []struct {
		name   string
		args   []string
		code   int
		stdout string // substring
		stderr string // substring
	}{
		{"version", []string{"version"}, 0, "sessiond", ""},
		{"help", []string{"--help"}, 0, "serve", ""},
		{"sessions help", []string{"sessions", "--help"}, 0, "revoke-subject", ""},
		{"unknown command", []string{"frobnicate"}, 2, "", "unknown command"},
		{"unknown flag", []string{"serve", "--frob"}, 2, "", "unknown flag"},
		{"missing arg", []string{"sessions", "revoke"}, 2, "", "accepts 1 arg"},
		{"validate missing file", []string{"config", "validate", "/nonexistent.yaml"}, 2, "", ""},
		{"validate help", []string{"config", "validate", "--help"}, 0, "validate FILE", ""},
		// The flag package's other spellings of help get the same help
		// on stdout, not its own usage on stderr.
		{"validate -help", []string{"config", "validate", "-help"}, 0, "validate FILE", ""},
		{"validate --h", []string{"config", "validate", "--h"}, 0, "validate FILE", ""},
		// What cobra refuses before a command runs is a usage error.
		{"unknown shorthand", []string{"serve", "-z"}, 2, "", "unknown shorthand"},
		{"flag without its value", []string{"sessions", "list", "--subject"}, 2, "", "flag needs an argument"},
		{"flag value of the wrong type", []string{"events", "--limit", "many"}, 2, "", `invalid argument "many"`},
		{"required flag missing", []string{"sessions", "list"}, 2, "", `required flag(s) "subject" not set`},
		{"flags that exclude each other", []string{"migrate", "--check", "--create"}, 2, "", "none of the others can be"},
		{"argument to a command that takes none", []string{"version", "extra"}, 2, "", "unknown command"},
		{"scenario missing", []string{"bench"}, 2, "", "accepts 1 arg"},
		// help on a topic that names no command: refused, not the root's
		// usage with exit 0.
		{"help on a command", []string{"help", "sessions", "list"}, 0, "--subject", ""},
		{"help on an unknown topic", []string{"help", "frobnicate"}, 2, "", "unknown help topic"},
		{"help on a misspelt subcommand", []string{"help", "sessions", "revok"}, 2, "", "unknown help topic"},
		{"unknown scenario", []string{"bench", "sideways"}, 2, "", `invalid argument "sideways"`},
		// What a command refuses before doing anything, with usageErr.
		{"incident without reason", []string{"incident", "revoke", "--all"}, 2, "", `required flag(s) "reason" not set`},
		{"healthcheck URL without scheme", []string{"healthcheck", "--url", "127.0.0.1:1"}, 2, "", "invalid argument: URL"},
		// A failure whose text says "invalid argument" is still a failure:
		// connecting to a link-local address without a zone is EINVAL.
		{"healthcheck connect EINVAL", []string{"healthcheck", "--url", "http://[fe80::1]:1"}, 1, "", "not ready"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			out, errOut, code := runCLI(t, nil, tc.args...)
			if code != tc.code || !strings.Contains(out, tc.stdout) || !strings.Contains(errOut, tc.stderr) {
				t.Errorf("sessiond %v = exit %d, stdout %q, stderr %q; want exit %d with %q / %q",
					tc.args, code, out, errOut, tc.code, tc.stdout, tc.stderr)
			}
		})
	}
}

func TestCLI_ConfigValidate(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.yaml")
	bad := filepath.Join(dir, "bad.yaml")
	broken := filepath.Join(dir, "broken.yaml")
	os.WriteFile(good, []byte("strategy: hybrid\npreset: b2c\n"), 0o600)
	os.WriteFile(bad, []byte("cookie:\n  http_only: false\n  secure: false\n"), 0o600)
	os.WriteFile(broken, []byte("cookie: [unclosed\n"), 0o600)
	for _, tc := range []struct {
		file string
		args []string
		code int
		want string
	}{
		{good, nil, 0, ""},
		{bad, nil, 1, "SD-COOKIE-001"},
		{bad, []string{"--format", "json"}, 1, `"rule_id"`},
		{bad, []string{"--format", "sarif"}, 1, `"2.1.0"`},
		{broken, nil, 2, ""},
	} {
		out, _, code := runCLI(t, nil, append([]string{"config", "validate", tc.file}, tc.args...)...)
		if code != tc.code || !strings.Contains(out, tc.want) {
			t.Errorf("validate %s %v = exit %d, %q; want %d with %q", filepath.Base(tc.file), tc.args, code, out, tc.code, tc.want)
		}
	}
}

// TestCLI_ConfigValidateGlobalFlags: config validate parses its own flags,
// so the root's (--config, --listen, --data: what `sessiond --help` lists
// as global flags) reached the flag package, which refused them as "flag
// provided but not defined", as if sessiond had no --config. They do not
// apply (only FILE is checked): each is refused, exit 2, saying so and
// naming the form that works, wherever it is given and however spelt,
// with no report on stdout.
func TestCLI_ConfigValidateGlobalFlags(t *testing.T) {
	good := filepath.Join(t.TempDir(), "good.yaml")
	os.WriteFile(good, []byte("strategy: hybrid\npreset: b2c\n"), 0o600)
	a := &app{stdout: io.Discard, stderr: io.Discard}
	var names []string
	a.rootCmd().PersistentFlags().VisitAll(func(f *pflag.Flag) { names = append(names, f.Name) })
	if len(names) < 3 {
		t.Fatalf("root flags %q; want --config, --listen and --data at least", names)
	}
	for _, name := range names {
		for _, tc := range []struct {
			where string
			args  []string
		}{
			{"on the root", []string{"--" + name, good, "config", "validate", good}},
			{"on the root with =", []string{"--" + name + "=" + good, "config", "validate", good}},
			{"before FILE", []string{"config", "validate", "--" + name, good, good}},
			{"after FILE", []string{"config", "validate", good, "--" + name + "=x"}},
			{"single dash", []string{"config", "validate", good, "-" + name, "x"}},
			{"given empty", []string{"config", "validate", good, "--" + name + "="}},
			{"on the root and after FILE", []string{"--" + name, good, "config", "validate", good, "--format", "json", "--" + name, good}},
		} {
			t.Run(name+" "+tc.where, func(t *testing.T) {
				out, errOut, code := runCLI(t, nil, tc.args...)
				want := "--" + name + " does not apply to config validate"
				if code != exitUsage || out != "" || !strings.Contains(errOut, want) || strings.Contains(errOut, "not defined") {
					t.Errorf("sessiond %q = exit %d, stdout %q, stderr %q; want exit %d, no report, %q", tc.args, code, out, errOut, exitUsage, want)
				}
			})
		}
	}
	// Its own flags and a file spelt like a flag's value still work.
	for _, args := range [][]string{
		{"config", "validate", good},
		{"config", "validate", "--env", "production", good, "--format=json"},
		{"config", "validate", "-format", "text", good},
	} {
		if _, errOut, code := runCLI(t, nil, args...); code != 0 {
			t.Errorf("sessiond %q = exit %d, %q; want 0", args, code, errOut)
		}
	}
}

// TestCLI_ConfigValidateGlobalFlagsAsParsed: the global flags are found
// where config validate's own parser would meet them, not elsewhere. "--"
// shields only the FILE after it (the parser reads flags again past it),
// so `-- FILE --config x` was still "flag provided but not defined"; and a
// value of --env or --format is a value whatever it looks like, so
// `--env -data FILE` was called a --data that does not apply when the
// wrong thing is --env's value.
func TestCLI_ConfigValidateGlobalFlagsAsParsed(t *testing.T) {
	good := filepath.Join(t.TempDir(), "good.yaml")
	if err := os.WriteFile(good, []byte("strategy: hybrid\npreset: b2c\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	const refused = "does not apply to config validate"
	for _, tc := range []struct {
		name      string
		args      []string
		code      int
		want, not string // in stderr; not in stderr
	}{
		{"after the FILE past --", []string{"--", good, "--config", "x"}, exitUsage, "--config " + refused, "not defined"},
		{"after the FILE past --, with =", []string{"--format", "json", "--", good, "-listen=:1"}, exitUsage, "--listen " + refused, "not defined"},
		{"a FILE spelt as a flag past --", []string{"--", "--data"}, exitUsage, "--data", refused},
		{"--env's value", []string{"--env", "-data", good}, exitUsage, `--env "-data": want development or production`, refused},
		{"--format's value", []string{good, "--format", "--config"}, exitUsage, `--format "--config": want text, json or sarif`, refused},
		{"-env's value, then a global flag", []string{"-env", "production", good, "--listen", "x"}, exitUsage, "--listen " + refused, "not defined"},
		{"its own flags", []string{"-env", "production", "--", good, "--format=json"}, 0, "", refused},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"config", "validate"}, tc.args...)
			_, errOut, code := runInProcess(nil, args...)
			if code != tc.code || !strings.Contains(errOut, tc.want) || strings.Contains(errOut, tc.not) {
				t.Errorf("sessiond %q = exit %d, stderr %q; want exit %d, %q, not %q", args, code, errOut, tc.code, tc.want, tc.not)
			}
		})
	}
}

// TestCLI_ServeRefusesUnsafeConfig: errors stop serve (exit 78, findings
// printed) unless --insecure-dev on a loopback address.
func TestCLI_ServeRefusesUnsafeConfig(t *testing.T) {
	cfg := filepath.Join(t.TempDir(), "unsafe.yaml")
	os.WriteFile(cfg, []byte("cookie:\n  http_only: false\n"), 0o600)
	_, errOut, code := runCLI(t, nil, "serve", "--config", cfg, "--listen", "127.0.0.1:0", "--data", t.TempDir())
	if code != exitConfig || !strings.Contains(errOut, "SD-COOKIE-001") {
		t.Fatalf("serve with an unsafe config = exit %d, stderr %q; want 78 naming SD-COOKIE-001", code, errOut)
	}
	_, errOut, code = runCLI(t, nil, "serve", "--config", cfg, "--listen", "0.0.0.0:0", "--insecure-dev", "--data", t.TempDir())
	if code != exitConfig || !strings.Contains(errOut, "loopback") {
		t.Fatalf("--insecure-dev on 0.0.0.0 = exit %d, %q; want refusal", code, errOut)
	}
	n := startNode(t, nodeConfig{yaml: "cookie:\n  http_only: false\n", args: []string{"--insecure-dev"}})
	if !strings.Contains(n.log.String(), "INSECURE DEVELOPMENT MODE") {
		t.Error("--insecure-dev start did not log loudly")
	}
	n.stop()
}

func TestCLI_AgainstServer(t *testing.T) {
	n := startNode(t, nodeConfig{env: []string{"SESSIOND_API_KEY=" + testAPIKey}})
	c := n.client()
	ctx := context.Background()
	a, _ := c.CreateSession(ctx, client.CreateRequest{Subject: "gus", Client: sessiond.Client{IP: "192.0.2.9"}})
	b, _ := c.CreateSession(ctx, client.CreateRequest{Subject: "gus"})
	c3, _ := c.CreateSession(ctx, client.CreateRequest{Subject: "gus"})

	out, errOut, code := n.cli("sessions", "list", "--subject", "gus")
	if code != 0 || strings.Count(out, "\n") != 4 || !strings.Contains(out, string(a.Session.ID)) || !strings.Contains(out, "192.0.2.9") {
		t.Fatalf("sessions list = %d\n%s%s", code, out, errOut)
	}
	if _, errOut, code := n.cli("sessions", "revoke", string(a.Session.ID)); code != 0 {
		t.Fatalf("sessions revoke = %d %s", code, errOut)
	}
	if _, err := c.Verify(ctx, a.AccessToken, nil); !errors.Is(err, sessiond.ErrRevoked) {
		t.Errorf("after CLI revoke: %v", err)
	}
	out, _, code = n.cli("sessions", "revoke-subject", "gus", "--except", string(b.Session.ID))
	if code != 0 || !strings.Contains(out, "revoked 1") {
		t.Errorf("revoke-subject = %d %q; want 1 revoked", code, out)
	}
	if _, err := c.Verify(ctx, c3.AccessToken, nil); !errors.Is(err, sessiond.ErrRevoked) {
		t.Errorf("after revoke-subject: %v", err)
	}
	if _, errOut, code := n.cli("sessions", "revoke", string(sessiond.NewSessionID())); code != 1 || !strings.Contains(errOut, "not") {
		t.Errorf("revoke unknown = %d %q; want exit 1", code, errOut)
	}
}

func TestCLI_APIKeysAndSigningKeys(t *testing.T) {
	n := startNode(t, nodeConfig{})
	ctx := context.Background()
	key, errOut, code := n.cli("apikey", "create", "--name", "billing", "--scope", "sessions:read")
	key = strings.TrimSpace(key)
	if code != 0 || !strings.HasPrefix(key, "sdak_") {
		t.Fatalf("apikey create = %d %q %q", code, key, errOut)
	}
	c, _ := client.New(n.url, sessiond.Secret(key))
	if _, err := c.ListSessions(ctx, "x"); err != nil {
		t.Fatalf("new key rejected by the running server: %v", err)
	}
	list, _, _ := n.cli("apikey", "list")
	if !strings.Contains(list, "billing") || strings.Contains(list, key) {
		t.Fatalf("apikey list = %q; want the name and never the key", list)
	}
	var id string
	for _, line := range strings.Split(list, "\n") {
		if strings.Contains(line, "billing") {
			id = strings.Fields(line)[0]
		}
	}
	if _, errOut, code := n.cli("apikey", "revoke", id); code != 0 {
		t.Fatalf("apikey revoke = %d %s", code, errOut)
	}
	eventually(t, 5*time.Second, "revoked API key refused", func() bool {
		_, err := c.ListSessions(ctx, "x")
		return errors.Is(err, client.ErrUnauthorized)
	})

	// Keys: a rotation keeps old tokens valid and reaches the running server.
	admin := n.client()
	login, err := admin.CreateSession(ctx, client.CreateRequest{Subject: "hal"})
	if err != nil {
		t.Fatal(err)
	}
	out, _, code := n.cli("keys", "list")
	if code != 0 || strings.Count(out, "\n") != 2 {
		t.Fatalf("keys list = %d %q; want one key", code, out)
	}
	if out, errOut, code := n.cli("keys", "rotate"); code != 0 || !strings.Contains(out, "published key") {
		t.Fatalf("keys rotate = %d %q %q", code, out, errOut)
	}
	eventually(t, 10*time.Second, "JWKS with two keys", func() bool {
		jwks, err := admin.JWKS(ctx)
		return err == nil && strings.Count(string(jwks), `"kid"`) == 2
	})
	if _, err := admin.Verify(ctx, login.AccessToken, nil); err != nil {
		t.Errorf("token signed before the rotation: %v", err)
	}
}

// README.md and root.go promise exit status 2 for a usage error: a flag
// value refused before any I/O is one, wherever it is checked.
func TestCLI_BadFlagValuesExit2(t *testing.T) {
	base := []string{"SESSIOND_API_KEY=sdak_probe", "SESSIOND_DATA=" + t.TempDir()}
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"bench concurrency over 10000", []string{"bench", "verify", "--url", "http://127.0.0.1:1", "--concurrency", "10001"}},
		{"bench sessions over 1000000", []string{"bench", "verify", "--url", "http://127.0.0.1:1", "--sessions", "1000001"}},
		{"bench rate over 1e7", []string{"bench", "verify", "--url", "http://127.0.0.1:1", "--rate", "1e8"}},
		{"bench url without scheme", []string{"bench", "verify", "--url", "127.0.0.1:1"}},
		{"apikey create unknown scope", []string{"apikey", "create", "--scope", "bogus"}},
		{"apikey set-scopes unknown scope", []string{"apikey", "set-scopes", "key_abcdefghijklm", "bogus"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, errOut, code := runInProcess(base, tc.args...)
			if code != exitUsage {
				t.Errorf("sessiond %v = exit %d (%q); want %d, a usage error", tc.args, code, strings.TrimSpace(errOut), exitUsage)
			}
		})
	}
}

// The server bounds --issued-before by its clock, so a time in the future
// (a typo in the year) would revoke every session: the CLI refuses it
// before asking anything.
func TestCLI_IncidentIssuedBeforeInTheFuture(t *testing.T) {
	asked := false
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { asked = true }))
	defer srv.Close()
	future := time.Now().Add(365 * 24 * time.Hour).UTC().Format(time.RFC3339)
	_, errOut, code := runInProcess([]string{"SESSIOND_API_KEY=sdak_probe", "SESSIOND_URL=" + srv.URL},
		"incident", "revoke", "--issued-before", future, "--reason", "bad deploy")
	if code != exitUsage || !strings.Contains(errOut, "--all") {
		t.Errorf("incident revoke --issued-before %s = exit %d %q; want 2 pointing at --all", future, code, errOut)
	}
	if asked {
		t.Error("the server was asked")
	}
}

// TestExitCode: the exit status comes from the error's sentinels, never
// its text: an OS error whose text is "invalid argument" (EINVAL) is a
// failure, and usageErr keeps its message and its cause.
func TestExitCode(t *testing.T) {
	einval := &fs.PathError{Op: "open", Path: "/run/secrets/kek", Err: syscall.EINVAL}
	for _, tc := range []struct {
		name string
		err  error
		want int
	}{
		{"success", nil, 0},
		{"exit status", exitError{exitConfig}, exitConfig},
		{"usage", usageErr("invalid argument: --limit must be from 1 to %d, got %d", 1000, 0), exitUsage},
		{"usage wrapped", fmt.Errorf("events: %w", usageErr("invalid argument: unknown event type %q", "x")), exitUsage},
		{"usage wrapping an OS error", usageErr("invalid argument: %w", einval), exitUsage},
		{"EINVAL from the OS", einval, exitFailure},
		{"EINVAL wrapped", fmt.Errorf("not ready: %w", &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.EINVAL)}), exitFailure},
		{"library ErrInvalidArgument", fmt.Errorf("stored deployment document is invalid: %w", sessiond.ErrInvalidArgument), exitFailure},
		{"text of a cobra refusal from a command", errors.New(`unknown flag: --frob`), exitFailure},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.err != nil && tc.want == exitFailure && !strings.Contains(tc.err.Error(), "invalid argument") && !strings.Contains(tc.err.Error(), "unknown flag") {
				t.Fatalf("case %q does not show what it is about: %q", tc.name, tc.err)
			}
			if got := exitCode(tc.err); got != tc.want {
				t.Errorf("exitCode(%q) = %d; want %d", tc.err, got, tc.want)
			}
		})
	}
	err := usageErr("invalid argument: %w", sessiond.ErrNotFound)
	if err.Error() != "invalid argument: not found" || !errors.Is(err, sessiond.ErrNotFound) {
		t.Errorf("usageErr = %q (wraps ErrNotFound: %v); want the message as fmt.Errorf makes it and its cause", err, errors.Is(err, sessiond.ErrNotFound))
	}
}

// failWriter refuses every write, as stdout on a full disk or a closed pipe.
type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, errors.New("no space left on device") }

// TestCLI_CompletionFailureIsNoUsageError: cobra adds its default
// `completion` commands inside Execute; run adds them first, so a
// completion that fails while running (its script cannot be written)
// exits 1, not 2 (usage) as a command that never ran.
func TestCLI_CompletionFailureIsNoUsageError(t *testing.T) {
	for _, shell := range []string{"bash", "zsh", "fish", "powershell"} {
		t.Run(shell, func(t *testing.T) {
			if code := run([]string{"completion", shell}, failWriter{}, io.Discard, nil); code != exitFailure {
				t.Errorf("sessiond completion %s with an unwritable stdout exits %d; want %d (a failure, not usage %d)", shell, code, exitFailure, exitUsage)
			}
		})
	}
}
