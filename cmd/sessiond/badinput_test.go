package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sessiond/sessiond"
)

// TestCLI_BadInputRefusedBeforeAsking: the commands that ask the running
// server refuse what is ambiguous or what the server would refuse as a
// usage error (exit 2) without sending anything, and never repeat an
// argument that may be a token. The good cases show the same commands do
// reach the server.
func TestCLI_BadInputRefusedBeforeAsking(t *testing.T) {
	const token = "sds_0123456789abcdefghijklmnopqrstuvwxyzABCDEFGH" // pasted in place of an ID
	id := string(sessiond.NewSessionID())
	cursor := "1733500000000000." + id + ".abcdefgh" // the form of a page's next cursor
	huge := strings.Repeat("a", 10<<20)
	past := time.Now().Add(-time.Hour).UTC().Format(time.RFC3339)
	cases := []struct {
		name  string
		args  []string
		asked bool // a good case: sent, exit 0
	}{
		{"incident all with subject", []string{"incident", "revoke", "--all", "--subject", "alice", "--reason", "r"}, false},
		{"incident empty subject", []string{"incident", "revoke", "--subject", "", "--reason", "r"}, false},
		{"incident subject with newline", []string{"incident", "revoke", "--subject", "a\nb", "--reason", "r"}, false},
		{"incident subject invalid UTF-8", []string{"incident", "revoke", "--subject", "a\xffb", "--reason", "r"}, false},
		{"incident subject 10 MB", []string{"incident", "revoke", "--subject", huge, "--reason", "r"}, false},
		{"incident zero issued-before", []string{"incident", "revoke", "--subject", "alice", "--issued-before", "0001-01-01T00:00:00Z", "--reason", "r"}, false},
		// Before the zero time the server's store saw none (every session of
		// the subject); before 1970 no session is that old (a typo).
		{"incident issued-before year 0", []string{"incident", "revoke", "--subject", "alice", "--issued-before", "0000-12-31T23:00:00Z", "--reason", "r"}, false},
		{"incident issued-before 1969", []string{"incident", "revoke", "--subject", "alice", "--issued-before", "1969-07-20T20:17:40Z", "--reason", "r"}, false},
		{"incident reason over 256 bytes", []string{"incident", "revoke", "--all", "--reason", strings.Repeat("r", 257)}, false},
		{"incident reason with a terminal escape", []string{"incident", "revoke", "--all", "--reason", "key leak\x1b[2J"}, false},
		{"incident reason with a bidi override", []string{"incident", "revoke", "--all", "--reason", "key \u202eleak"}, false},
		{"sessions revoke empty ID", []string{"sessions", "revoke", ""}, false},
		{"sessions revoke a token", []string{"sessions", "revoke", token}, false},
		{"sessions revoke ID with newline", []string{"sessions", "revoke", id[:25] + "\n"}, false},
		{"sessions revoke-subject empty", []string{"sessions", "revoke-subject", ""}, false},
		{"sessions revoke-subject 10 MB", []string{"sessions", "revoke-subject", huge}, false},
		{"sessions revoke-subject except a token", []string{"sessions", "revoke-subject", "alice", "--except", token}, false},
		// A selector given empty (a script's empty variable) would be sent
		// as none and widen the revocation: --except "" would revoke the
		// session meant to be kept, --issued-before "" every session of
		// the subjects whatever their age. Given twice, the last would
		// win and the first be dropped without a word.
		{"sessions revoke-subject empty except", []string{"sessions", "revoke-subject", "alice", "--except", ""}, false},
		{"sessions revoke-subject except given twice", []string{"sessions", "revoke-subject", "alice", "--except", id, "--except", string(sessiond.NewSessionID())}, false},
		{"sessions revoke-subject same except twice", []string{"sessions", "revoke-subject", "alice", "--except", id, "--except=" + id}, false},
		{"incident subject empty issued-before", []string{"incident", "revoke", "--subject", "alice", "--issued-before", "", "--reason", "r"}, false},
		{"incident all empty issued-before", []string{"incident", "revoke", "--all", "--issued-before=", "--reason", "r"}, false},
		{"incident issued-before given twice", []string{"incident", "revoke", "--subject", "alice", "--issued-before", past, "--issued-before", time.Now().Add(-2 * time.Hour).UTC().Format(time.RFC3339), "--reason", "r"}, false},
		{"sessions list empty subject", []string{"sessions", "list", "--subject", ""}, false},
		{"sessions list subject with escape", []string{"sessions", "list", "--subject", "a\x1b[2Jb"}, false},
		{"sessions list url not http", []string{"sessions", "list", "--subject", "alice", "--url", "ftp://127.0.0.1:1"}, false},
		{"sessions list limit 0", []string{"sessions", "list", "--subject", "alice", "--limit", "0"}, false},
		{"sessions list limit over 1000", []string{"sessions", "list", "--subject", "alice", "--limit", "1001"}, false},
		{"sessions list limit not a number", []string{"sessions", "list", "--subject", "alice", "--limit", "ten"}, false},
		{"sessions list cursor without limit", []string{"sessions", "list", "--subject", "alice", "--cursor", cursor}, false},
		{"sessions list cursor a token", []string{"sessions", "list", "--subject", "alice", "--limit", "10", "--cursor", token}, false},
		{"sessions list cursor without its subject tag", []string{"sessions", "list", "--subject", "alice", "--limit", "10", "--cursor", cursor[:strings.LastIndexByte(cursor, '.')]}, false},
		{"events url without host", []string{"events", "--url", "http://"}, false},
		{"events session-id a token", []string{"events", "--session-id", token}, false},
		{"events cursor a token", []string{"events", "--cursor", token}, false},
		{"events subject with escape", []string{"events", "--subject", "a\x1b[2Jb"}, false},
		{"events subject 10 MB", []string{"events", "--subject", huge}, false},
		// The zero time is sent as no bound: --until would list every event.
		{"events until the zero time", []string{"events", "--until", "0001-01-01T00:00:00Z"}, false},
		{"events since the zero time", []string{"events", "--since", "0001-01-01T01:00:00+01:00"}, false},
		// A filter given empty (a script's empty variable) is no filter:
		// every subject's events, as the server refuses ?subject= for.
		{"events empty subject", []string{"events", "--subject", ""}, false},
		{"events empty session ID", []string{"events", "--session-id", ""}, false},
		{"events empty type", []string{"events", "--type", ""}, false},
		{"events empty since", []string{"events", "--since", ""}, false},
		{"events empty until", []string{"events", "--until="}, false},

		{"incident subjects", []string{"incident", "revoke", "--subject", "alice", "--subject", "bob", "--reason", "r"}, true},
		{"incident all issued before", []string{"incident", "revoke", "--all", "--issued-before", past, "--reason", "r"}, true},
		{"incident subject issued before", []string{"incident", "revoke", "--subject", "alice", "--issued-before", past, "--reason", "r"}, true},
		{"sessions revoke", []string{"sessions", "revoke", id}, true},
		{"sessions revoke-subject except", []string{"sessions", "revoke-subject", "alice", "--except", id}, true},
		{"sessions list", []string{"sessions", "list", "--subject", "alice"}, true},
		{"sessions list a page", []string{"sessions", "list", "--subject", "alice", "--limit", "10"}, true},
		{"sessions list the next page", []string{"sessions", "list", "--subject", "alice", "--limit", "1000", "--cursor", cursor}, true},
		{"events of a session", []string{"events", "--oldest-first", "--session-id", id, "--subject", "alice"}, true},
		{"events after a cursor", []string{"events", "--cursor", sessiond.NewEventID(time.Now())}, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var (
				mu    sync.Mutex
				asked []string
			)
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				mu.Lock()
				asked = append(asked, r.Method+" "+r.URL.Path)
				mu.Unlock()
				switch r.Method {
				case http.MethodDelete:
					if strings.HasPrefix(r.URL.Path, "/v1/sessions/") {
						w.WriteHeader(http.StatusNoContent)
						return
					}
					w.Write([]byte(`{"revoked":1}`))
				case http.MethodGet:
					w.Write([]byte(`{"sessions":[]}`))
				default:
					w.Write([]byte(`{"revoked":1}`))
				}
			}))
			defer srv.Close()
			out, errOut, code := runInProcess([]string{"SESSIOND_API_KEY=sdak_probe", "SESSIOND_URL=" + srv.URL}, tc.args...)
			mu.Lock()
			defer mu.Unlock()
			short := errOut
			if len(short) > 200 {
				short = short[:200] + "…"
			}
			switch {
			case tc.asked && (code != 0 || len(asked) != 1):
				t.Errorf("exit %d (%q), requests %q; want exit 0 after one request", code, short, asked)
			case !tc.asked && (code != exitUsage || len(asked) != 0):
				t.Errorf("exit %d (%q), requests %q; want exit %d and no request", code, short, asked, exitUsage)
			}
			if strings.Contains(out+errOut, token) {
				t.Errorf("the argument was printed: %q %q", out, errOut)
			}
		})
	}
}

// TestCLI_APIKeyBadInput: a bad --name or a key pasted in place of an ID
// is a usage error (exit 2) that stores nothing and never prints the key.
func TestCLI_APIKeyBadInput(t *testing.T) {
	const secret = "sdak_0123456789abcdefghijklmnopqrstuvwxyzABCDEFG"
	env := []string{"SESSIOND_DATA=" + t.TempDir()}
	if _, errOut, code := runInProcess(env, "keys", "list", "--create"); code != 0 { // a store as serve leaves it
		t.Fatalf("keys list --create = exit %d, %q", code, errOut)
	}
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"create empty name", []string{"apikey", "create", "--name", ""}},
		{"create name with escape", []string{"apikey", "create", "--name", "a\x1b[2Jb"}},
		{"create name with newline", []string{"apikey", "create", "--name", "a\nb"}},
		{"create name of 100 kB", []string{"apikey", "create", "--name", strings.Repeat("n", 100<<10)}},
		{"set-scopes of a key", []string{"apikey", "set-scopes", secret, "verify"}},
		{"revoke a key", []string{"apikey", "revoke", secret}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, errOut, code := runInProcess(env, tc.args...)
			if code != exitUsage {
				t.Errorf("sessiond %.60q = exit %d, %.200q; want %d", tc.args, code, errOut, exitUsage)
			}
			if strings.Contains(out+errOut, secret) {
				t.Errorf("the key was printed: %q %q", out, errOut)
			}
			if list, _, _ := runInProcess(env, "apikey", "list", "--json"); list != "" {
				t.Errorf("a key was stored: %q", list)
			}
		})
	}
}

// TestCLI_UnknownSubcommand: a group (sessions, apikey…) given a word
// that names none of its commands is a usage error that does nothing,
// not its help and exit 0: "apikey revok ID" must not pass for a
// revocation. Alone, a group prints its help.
func TestCLI_UnknownSubcommand(t *testing.T) {
	const token = "sdak_0123456789abcdefghijklmnopqrstuvwxyzABCDEFG"
	env := []string{"SESSIOND_DATA=" + t.TempDir()}
	if _, errOut, code := runInProcess(env, "keys", "list", "--create"); code != 0 {
		t.Fatalf("keys list --create = exit %d, %q", code, errOut)
	}
	keyID := func() string {
		out, errOut, code := runInProcess(env, "apikey", "list", "--json")
		if code != 0 {
			t.Fatalf("apikey list = exit %d, %q", code, errOut)
		}
		return out
	}
	if _, errOut, code := runInProcess(env, "apikey", "create", "--name", "kept"); code != 0 {
		t.Fatalf("apikey create = exit %d, %q", code, errOut)
	}
	before := keyID()
	id := before[strings.Index(before, "key_") : strings.Index(before, "key_")+17]
	for _, tc := range []struct {
		name string
		args []string
		code int
		want string // in stderr (exit 2) or stdout (help)
	}{
		{"apikey typo", []string{"apikey", "revok", id}, exitUsage, `did you mean revoke`},
		{"sessions unknown", []string{"sessions", "bogus"}, exitUsage, `unknown command "bogus" for "sessiond sessions"`},
		{"keys typo", []string{"keys", "rotat"}, exitUsage, "did you mean rotate"},
		{"config unknown", []string{"config", "check", "f.yaml"}, exitUsage, "unknown command"},
		{"incident typo", []string{"incident", "revok"}, exitUsage, "did you mean revoke"},
		{"completion unknown", []string{"completion", "tcsh"}, exitUsage, "unknown command"},
		{"token in place of a command", []string{"sessions", token}, exitUsage, `unknown command for "sessiond sessions"`},
		{"apikey alone", []string{"apikey"}, 0, "Available Commands"},
		{"sessions alone", []string{"sessions"}, 0, "Available Commands"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, errOut, code := runInProcess(env, tc.args...)
			got := errOut
			if tc.code == 0 {
				got = out
			}
			if code != tc.code || !strings.Contains(got, tc.want) {
				t.Errorf("sessiond %q = exit %d, stdout %.100q, stderr %.200q; want exit %d with %q", tc.args, code, out, errOut, tc.code, tc.want)
			}
			if strings.Contains(out+errOut, token) {
				t.Errorf("the argument was printed: %q %q", out, errOut)
			}
			if use := "sessiond " + tc.args[0] + " [flags]"; strings.Contains(out, use) {
				t.Errorf("the help shows %q, which runs nothing: %q", use, out)
			}
		})
	}
	if after := keyID(); after != before {
		t.Errorf("the keys changed: %q, then %q", before, after)
	}
}

// failingWriter is a stdout that cannot be written (a full disk, a closed
// pipe).
type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, errors.New("no space left on device") }

// TestCLI_APIKeyCreateUnwritten: a key shown once that could not be
// written is revoked and the command fails, so that no live key exists
// that nobody holds and no script believes it has one.
func TestCLI_APIKeyCreateUnwritten(t *testing.T) {
	env := []string{"SESSIOND_DATA=" + t.TempDir()}
	if _, errOut, code := runInProcess(env, "keys", "list", "--create"); code != 0 {
		t.Fatalf("keys list --create = exit %d, %q", code, errOut)
	}
	var errOut bytes.Buffer
	if code := run([]string{"apikey", "create", "--name", "lost"}, failingWriter{}, &errOut, env); code != exitFailure {
		t.Errorf("apikey create to a failing stdout = exit %d, %q; want %d", code, errOut.String(), exitFailure)
	}
	wantOnlyKeyRevoked(t, env, "lost")
}

// TestCLI_APIKeyCreateClosedPipe: the real binary with stdout on a pipe
// whose reader is gone exits 1 and leaves the key it could not hand over
// revoked; SIGPIPE used to kill it before it could revoke, leaving a live
// admin-capable key nobody had.
func TestCLI_APIKeyCreateClosedPipe(t *testing.T) {
	env := []string{"SESSIOND_DATA=" + t.TempDir()}
	if _, errOut, code := runInProcess(env, "keys", "list", "--create"); code != 0 {
		t.Fatalf("keys list --create = exit %d, %q", code, errOut)
	}
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	r.Close()
	cmd := exec.Command(binary(t), "apikey", "create", "--name", "piped")
	cmd.Env = append(cleanEnv(), env...)
	cmd.Stdout = w
	var errOut bytes.Buffer
	cmd.Stderr = &errOut
	_ = cmd.Run()
	w.Close()
	if code := cmd.ProcessState.ExitCode(); code != exitFailure {
		t.Errorf("apikey create to a closed pipe = exit %d (%v), %q; want %d", code, cmd.ProcessState, errOut.String(), exitFailure)
	}
	wantOnlyKeyRevoked(t, env, "piped")
}

// wantOnlyKeyRevoked checks that the store of env holds one API key, name,
// and that it is revoked: the key an apikey create could not hand over.
func wantOnlyKeyRevoked(t *testing.T, env []string, name string) {
	t.Helper()
	out, stderr, code := runInProcess(env, "apikey", "list", "--json")
	if code != 0 {
		t.Fatalf("apikey list = exit %d, %q", code, stderr)
	}
	var k struct {
		Name      string    `json:"name"`
		RevokedAt time.Time `json:"revoked_at"`
	}
	if err := json.Unmarshal([]byte(out), &k); err != nil || k.Name != name {
		t.Fatalf("apikey list = %q (%v); want the one key", out, err)
	}
	if k.RevokedAt.IsZero() {
		t.Errorf("the key nobody received is live: %q", out)
	}
}

// TestCLI_OutputUnwritten: a command whose output could not be written
// fails, so that a script redirecting it to a full disk does not take
// exit 0 for a result it never got (version and help exited 0).
// config validate keeps its own exit status for it.
func TestCLI_OutputUnwritten(t *testing.T) {
	conf := filepath.Join(t.TempDir(), "sessiond.yaml")
	if err := os.WriteFile(conf, []byte("strategy: hybrid\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	env := []string{"SESSIOND_DATA=" + t.TempDir()}
	for _, tc := range []struct {
		args []string
		want int
	}{
		{[]string{"version"}, exitFailure},
		{[]string{"version", "--json"}, exitFailure},
		{[]string{"--help"}, exitFailure},
		{[]string{"apikey", "--help"}, exitFailure},
		{[]string{"config", "validate", conf}, exitUsage},
		{[]string{"config", "validate", conf, "--format", "json"}, exitUsage},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			var errOut bytes.Buffer
			if code := run(tc.args, failingWriter{}, &errOut, env); code != tc.want {
				t.Errorf("exit %d, stderr %q; want %d", code, errOut.String(), tc.want)
			}
			if !strings.Contains(errOut.String(), "no space left on device") {
				t.Errorf("stderr %q does not say why", errOut.String())
			}
		})
	}
}
