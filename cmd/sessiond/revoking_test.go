package main

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/internal/textsafe"
)

// TestCLI_RevokeNamesServer: the commands that revoke through the running
// server say on stderr which server they asked and where the API key came
// from, whatever it answered, so that an operator who reached the wrong
// deployment (a stale SESSIOND_URL, another data directory's key) sees it
// on the line that reports the result or the refusal. Stdout is unchanged.
func TestCLI_RevokeNamesServer(t *testing.T) {
	id := string(sessiond.NewSessionID())
	commands := []struct {
		name string
		args []string
		out  string // stdout when the server agrees
	}{
		{"incident", []string{"incident", "revoke", "--subject", "alice", "--reason", "r"}, "revoked 1 session in "},
		{"revoke-subject", []string{"sessions", "revoke-subject", "alice"}, "revoked 1 session\n"},
		{"revoke", []string{"sessions", "revoke", id}, "revoked " + id + "\n"},
	}
	for _, status := range []int{http.StatusOK, http.StatusUnauthorized} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if status != http.StatusOK {
				w.Header().Set("Content-Type", "application/problem+json")
				w.WriteHeader(status)
				w.Write([]byte(`{"type":"https://sessiond.dev/problems/unauthorized","title":"Unauthorized","status":401,"detail":"a valid API key is required","code":"unauthorized"}`))
				return
			}
			if r.Method == http.MethodDelete && strings.HasPrefix(r.URL.Path, "/v1/sessions/") {
				w.WriteHeader(http.StatusNoContent)
				return
			}
			w.Write([]byte(`{"revoked":1}`))
		}))
		data := t.TempDir()
		keyFile := filepath.Join(data, "api-key")
		if err := os.WriteFile(keyFile, []byte("sdak_probe\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		for _, tc := range commands {
			for _, src := range []struct {
				env        []string
				url, where string
			}{
				{[]string{"SESSIOND_URL=" + srv.URL, "SESSIOND_API_KEY=sdak_probe"}, srv.URL, "SESSIOND_URL; API key from SESSIOND_API_KEY"},
				{[]string{"SESSIOND_DATA=" + data}, srv.URL, "--url; API key from " + keyFile},
			} {
				args := tc.args
				if !strings.Contains(src.where, "SESSIOND_URL") {
					args = append(append([]string(nil), args...), "--url", srv.URL)
				}
				out, errOut, code := runInProcess(src.env, args...)
				want := "server: " + src.url + " (from " + src.where + ")\n"
				if !strings.HasPrefix(errOut, want) {
					t.Errorf("%s answered %d: stderr %q; want it to start with %q", tc.name, status, errOut, want)
				}
				switch {
				case status == http.StatusOK && (code != 0 || !strings.HasPrefix(out, tc.out)):
					t.Errorf("%s answered 200: exit %d, stdout %q; want 0 and %q", tc.name, code, out, tc.out)
				case status != http.StatusOK && (code != exitFailure || out != ""):
					t.Errorf("%s answered %d: exit %d, stdout %q; want %d and nothing", tc.name, status, code, out, exitFailure)
				}
			}
		}
		srv.Close()
	}
}

// TestCLI_RevokePartialFailure: a revocation that fails part way (a store
// error after some batches committed) exits 1, and says on stderr how many
// sessions the server had revoked, which stay revoked, and that the same
// command again revokes the rest; stdout stays empty, as for any failure.
func TestCLI_RevokePartialFailure(t *testing.T) {
	for _, tc := range []struct {
		name, body string
		want       string // on stderr; "" for no count at all
	}{
		{"part way", `{"type":"https://sessiond.dev/problems/store_unavailable","title":"Store unavailable","status":503,"detail":"the session store is unavailable; retry later","code":"store_unavailable","revoked":256}`,
			"revoked 256 sessions before the failure (they stay revoked; the same command again revokes the rest)"},
		{"nothing done", `{"type":"https://sessiond.dev/problems/store_unavailable","title":"Store unavailable","status":503,"detail":"the session store is unavailable; retry later","code":"store_unavailable"}`, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/problem+json")
				w.WriteHeader(http.StatusServiceUnavailable)
				w.Write([]byte(tc.body))
			}))
			defer srv.Close()
			env := []string{"SESSIOND_URL=" + srv.URL, "SESSIOND_API_KEY=sdak_probe"}
			for _, args := range [][]string{
				{"incident", "revoke", "--all", "--reason", "r"},
				{"sessions", "revoke-subject", "alice"},
			} {
				out, errOut, code := runInProcess(env, args...)
				if code != exitFailure || out != "" {
					t.Errorf("%v = exit %d, stdout %q; want %d and nothing", args, code, out, exitFailure)
				}
				if tc.want != "" && !strings.Contains(errOut, tc.want) {
					t.Errorf("%v: stderr %q; want it to say %q", args, errOut, tc.want)
				}
				if tc.want == "" && strings.Contains(errOut, "before the failure") {
					t.Errorf("%v: stderr %q; want no count when the server gave none", args, errOut)
				}
			}
		})
	}
}

// TestCLI_RevokeNotesSpaces: a subject with white space at an end is
// valid and sent exactly as typed (the API takes subjects exactly), but
// the commands that revoke note on stderr that only that very subject
// matches: " alice" pasted with its space revokes none of alice's
// sessions. A subject without such spaces gets no note.
func TestCLI_RevokeNotesSpaces(t *testing.T) {
	for _, tc := range []struct {
		name    string
		args    []string
		subject string // as the server received it
		note    bool
	}{
		{"incident leading space", []string{"incident", "revoke", "--subject", " alice", "--reason", "r"}, " alice", true},
		{"incident trailing no-break space", []string{"incident", "revoke", "--subject", "bob", "--subject", "alice\u00a0", "--reason", "r"}, "alice\u00a0", true},
		{"incident plain", []string{"incident", "revoke", "--subject", "alice", "--reason", "r"}, "alice", false},
		{"revoke-subject trailing tab", []string{"sessions", "revoke-subject", "alice\t"}, "", false}, // a control character: refused before
		{"revoke-subject trailing space", []string{"sessions", "revoke-subject", "alice "}, "alice ", true},
		{"revoke-subject inner space", []string{"sessions", "revoke-subject", "alice smith"}, "alice smith", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, errOut, code, got := runRevokingProbe(t, tc.args...)
			if tc.subject == "" {
				if code != exitUsage || len(got) != 0 {
					t.Fatalf("exit %d, sent %q; want %d and nothing sent", code, got, exitUsage)
				}
				return
			}
			if code != 0 || len(got) != 1 || got[0] != tc.subject {
				t.Fatalf("exit %d, sent %q; want 0 and the subject %q as typed", code, got, tc.subject)
			}
			if noted := strings.Contains(errOut, "begins or ends with white space"); noted != tc.note {
				t.Errorf("stderr %q; want a note of the spaces: %v", errOut, tc.note)
			}
		})
	}
}

// TestCLI_RevokeURLOnce: --url chooses the deployment a revoking command
// ends sessions on. Given empty (a script's empty variable) it was read as
// left out, and the command revoked on SESSIOND_URL's server or the
// configuration's instead; given twice, on the last one named. Both are
// now usage errors (exit 2) with nothing sent to any server, as an empty
// or repeated selector is. Given once, it is used as before.
func TestCLI_RevokeURLOnce(t *testing.T) {
	id := string(sessiond.NewSessionID())
	var asked []string
	serve := func(name string) *httptest.Server {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			asked = append(asked, name)
			if r.Method == http.MethodDelete && strings.HasPrefix(r.URL.Path, "/v1/sessions/") {
				w.WriteHeader(http.StatusNoContent)
				return
			}
			w.Write([]byte(`{"revoked":1}`))
		}))
		t.Cleanup(srv.Close)
		return srv
	}
	fromEnv, meant, other := serve("SESSIOND_URL"), serve("meant"), serve("other")
	env := []string{"SESSIOND_URL=" + fromEnv.URL, "SESSIOND_API_KEY=sdak_probe"}
	for _, cmd := range [][]string{
		{"incident", "revoke", "--all", "--reason", "r"},
		{"sessions", "revoke-subject", "alice"},
		{"sessions", "revoke", id},
	} {
		for _, tc := range []struct {
			name string
			url  []string
			code int
			want string // the server asked; "" for none
		}{
			{"empty", []string{"--url", ""}, exitUsage, ""},
			{"empty with =", []string{"--url="}, exitUsage, ""},
			{"twice", []string{"--url", other.URL, "--url", meant.URL}, exitUsage, ""},
			{"same twice", []string{"--url", meant.URL, "--url=" + meant.URL}, exitUsage, ""},
			{"once", []string{"--url", meant.URL}, 0, "meant"},
			{"left out", nil, 0, "SESSIOND_URL"},
		} {
			asked = nil
			args := append(append([]string(nil), cmd...), tc.url...)
			_, errOut, code := runInProcess(env, args...)
			if code != tc.code || tc.want == "" && len(asked) != 0 || tc.want != "" && (len(asked) != 1 || asked[0] != tc.want) {
				t.Errorf("%v: exit %d, asked %q (stderr %q); want exit %d and %q asked", args, code, asked, errOut, tc.code, tc.want)
			}
		}
	}
}

// TestCLI_RevokeNamesNoSecret: a server URL carrying a credential (a
// password, a token in the query or the fragment, percent-encoded or not)
// is refused as a usage error before anything is sent, and neither the
// refusal nor the "server:" line, which is not printed, repeats it.
func TestCLI_RevokeNamesNoSecret(t *testing.T) {
	const secret = "Hunter2secret"
	asked := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		asked++
		w.Write([]byte(`{"revoked":1}`))
	}))
	defer srv.Close()
	host := strings.TrimPrefix(srv.URL, "http://")
	for _, u := range []string{
		"http://operator:" + secret + "@" + host,
		"http://operator:" + secret + "%40x@" + host,
		"http://" + secret + "@" + host,
		srv.URL + "/?token=" + secret,
		srv.URL + "/#" + secret,
	} {
		for _, args := range [][]string{
			{"incident", "revoke", "--all", "--reason", "r"},
			{"sessions", "revoke-subject", "alice"},
			{"sessions", "revoke", string(sessiond.NewSessionID())},
		} {
			for _, viaEnv := range []bool{false, true} {
				env, args := []string{"SESSIOND_API_KEY=sdak_probe"}, args
				if viaEnv {
					env = append(env, "SESSIOND_URL="+u)
				} else {
					args = append(append([]string(nil), args...), "--url", u)
				}
				asked = 0
				out, errOut, code := runInProcess(env, args...)
				if code != exitUsage || asked != 0 || strings.Contains(out+errOut, secret) || strings.Contains(errOut, "server:") {
					t.Errorf("%v (SESSIOND_URL %v): exit %d, %d asked, stdout %q, stderr %q; want exit %d, nothing asked or printed of the URL",
						args, viaEnv, code, asked, out, errOut, exitUsage)
				}
			}
		}
	}
}

// TestCLI_IncidentFailureNamesRerun: a kill switch that failed once it had
// begun (the problem's issued_before) exits 1 as before and prints the
// command that finishes it, bounded by that time, each argument quoted
// for the shell and --rotate-keys left out (the keys are retired); a
// problem without issued_before keeps the message it had.
func TestCLI_IncidentFailureNamesRerun(t *testing.T) {
	const problem = `{"type":"https://sessiond.dev/problems/store_unavailable","title":"Store unavailable","status":503,"detail":"the session store is unavailable; retry later","code":"store_unavailable"`
	for _, tc := range []struct {
		name, body string
		args       []string
		want       []string // on stderr
	}{
		{"part way", problem + `,"revoked":7,"issued_before":"2026-03-04T05:06:07.123456Z"}`,
			[]string{"--all", "--reason", "leak", "--rotate-keys", "--notify"},
			[]string{"revoked 7 sessions before the failure; they stay revoked; to finish it, run: sessiond incident revoke --all --issued-before 2026-03-04T05:06:07.123456Z --reason leak --notify --url ",
				"without --issued-before would also revoke every session created since"}},
		{"nothing revoked", problem + `,"issued_before":"2026-03-04T05:06:07Z"}`,
			[]string{"--subject", "o'brien", "--subject", "bob", "--reason", "key leak"},
			[]string{"its watermark may already refuse the matching tokens; to finish it, run: sessiond incident revoke --subject 'o'\\''brien' --subject bob --issued-before 2026-03-04T05:06:07Z --reason 'key leak' --url "}},
		{"no bound", problem + `,"revoked":3}`, []string{"--all", "--reason", "r"},
			[]string{"revoked 3 sessions before the failure (they stay revoked; the same command again revokes the rest)"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/problem+json")
				w.WriteHeader(http.StatusServiceUnavailable)
				w.Write([]byte(tc.body))
			}))
			defer srv.Close()
			args := append([]string{"incident", "revoke", "--url", srv.URL}, tc.args...)
			out, errOut, code := runInProcess([]string{"SESSIOND_API_KEY=sdak_probe"}, args...)
			if code != exitFailure || out != "" {
				t.Errorf("%v = exit %d, stdout %q; want %d and nothing", args, code, out, exitFailure)
			}
			for _, w := range tc.want {
				if !strings.Contains(errOut, w) {
					t.Errorf("%v: stderr %q; want it to say %q", args, errOut, w)
				}
			}
		})
	}
}

// TestCLI_IncidentRerunPastes: the command a failed kill switch prints,
// pasted into a shell, runs with the arguments that finish the job: the
// same subjects and reason, byte for byte (a subject with an emoji's
// zero-width joiner, one starting with '=', a reason over two lines),
// the bound, and no --rotate-keys.
func TestCLI_IncidentRerunPastes(t *testing.T) {
	if _, err := exec.LookPath("dash"); err != nil {
		t.Skip(err)
	}
	const body = `{"type":"https://sessiond.dev/problems/store_unavailable","title":"Store unavailable","status":503,"detail":"retry later","code":"store_unavailable","revoked":2,"issued_before":"2026-03-04T05:06:07.5Z"}`
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/problem+json")
		w.WriteHeader(http.StatusServiceUnavailable)
		w.Write([]byte(body))
	}))
	defer srv.Close()
	family, reason := "👨\u200d👩\u200d👧", "leak\nticket 7 ('urgent')"
	_, errOut, code := runInProcess([]string{"SESSIOND_API_KEY=sdak_probe"}, "incident", "revoke", "--url", srv.URL,
		"--subject", family, "--subject", "=root", "--reason", reason, "--rotate-keys")
	_, rest, ok := strings.Cut(errOut, "to finish it, run: ")
	cmd, _, ok2 := strings.Cut(rest, " (the same command without")
	if code != exitFailure || !ok || !ok2 {
		t.Fatalf("exit %d, stderr %q; want %d and the command to run", code, errOut, exitFailure)
	}
	out, err := exec.Command("dash", "-c", `sessiond() { printf '%s\0' "$@"; }; `+cmd).Output()
	got := strings.Split(strings.TrimSuffix(string(out), "\x00"), "\x00")
	want := []string{"incident", "revoke", "--subject", family, "--subject", "=root",
		"--issued-before", "2026-03-04T05:06:07.5Z", "--reason", reason, "--url", srv.URL}
	if err != nil || !slices.Equal(got, want) {
		t.Errorf("dash -c %q = %q, %v; want the arguments %q", cmd, got, err, want)
	}
}

// TestShellQuote: the re-run command a failed kill switch prints is pasted
// into a shell, so each word must come out of dash and bash as exactly the
// argument it was (a subject the shell altered would leave the real
// subject's sessions unrevoked while the re-run reports success), run no
// shell syntax, and print as plain text: a character a terminal does not
// show (a format character such as the ZWJ of an emoji sequence, a
// control character in a reason) goes as an escape, not raw and not
// rewritten. A leading '=' is quoted: zsh expands =word to a path.
func TestShellQuote(t *testing.T) {
	words := []string{
		"bob", "user@example.com", "o'brien", "''", "key leak", "-rf", "--all", "=alice", "a=b",
		"$(touch pwned)", "`id`", "${HOME}", "a;b|c&d>e<f", "*", "?", "[a]", "~root", "#x", "!!", `back\slash`, `"dq"`,
		"émile", "日本語", "alice\u00a0bob", " alice ", "山田\u3000太郎", "👨\u200d👩\u200d👧", "soft\u00adhyphen", "zero\u200bwidth", "tag\U000e0041", "line\u2028sep", "\u2764\ufe0f", "alice\ufe0f", "alice\u3164", "alice\u2800",
		"line\nbreak", "two\n\nlines", "a\n%s", "a\n'b", "a\n\\", "a\n\u200bb", "tab\there", "del\x7f", "esc\x1b[31m", "bad\xffutf8", "\u200b",
	}
	shells := []string{"dash", "bash"}
	for _, sh := range shells {
		if _, err := exec.LookPath(sh); err != nil {
			t.Skipf("%s: %v", sh, err)
		}
	}
	for _, w := range words {
		q := shellQuote(w)
		if !textsafe.Safe(q) || strings.ContainsRune(q, '\n') {
			t.Errorf("shellQuote(%q) = %q: not plain printable text", w, q)
		}
		if strings.HasPrefix(q, "=") {
			t.Errorf("shellQuote(%q) = %q: a leading '=' is zsh's path expansion", w, q)
		}
		for _, sh := range shells {
			out, err := exec.Command(sh, "-c", `printf '%s\0' `+q+` "$0"`, "sentinel").Output()
			if want := w + "\x00sentinel\x00"; err != nil || string(out) != want {
				t.Errorf("%s -c with shellQuote(%q) = %q: printed %q, %v; want %q", sh, w, q, out, err, want)
			}
		}
	}
	if _, err := os.Stat("pwned"); err == nil {
		os.Remove("pwned")
		t.Error("a quoted word ran a command")
	}
}

// TestCLI_RevokeNotesEscapes: a subject holding escape text or beginning
// with a double quote is sent as typed (the API takes subjects exactly),
// but the commands that revoke note on stderr that it is: a quoted cell
// ("alice\u200b") pasted into a shell loses its quotes and arrives as the
// characters alice\u200b, a different subject from the look-alike meant.
func TestCLI_RevokeNotesEscapes(t *testing.T) {
	for _, tc := range []struct {
		name    string
		args    []string
		subject string // as the server received it
		note    bool
	}{
		{"incident cell without its quotes", []string{"incident", "revoke", "--subject", `alice\u200b`, "--reason", "r"}, `alice\u200b`, true},
		{"incident cell with its quotes", []string{"incident", "revoke", "--subject", "bob", "--subject", `"alice\u200b"`, "--reason", "r"}, `"alice\u200b"`, true},
		{"incident byte escape", []string{"incident", "revoke", "--subject", `alice\xff`, "--reason", "r"}, `alice\xff`, true},
		{"incident the character itself", []string{"incident", "revoke", "--subject", "alice\u200b", "--reason", "r"}, "alice\u200b", false},
		{"incident quotes without escapes", []string{"incident", "revoke", "--subject", `"alice"`, "--reason", "r"}, `"alice"`, true},
		{"incident quote inside", []string{"incident", "revoke", "--subject", `al"ice`, "--reason", "r"}, `al"ice`, false},
		{"incident other backslash", []string{"incident", "revoke", "--subject", `dom\alice`, "--reason", "r"}, `dom\alice`, false},
		{"revoke-subject long escape", []string{"sessions", "revoke-subject", `alice\U0001f600`}, `alice\U0001f600`, true},
		{"revoke-subject plain", []string{"sessions", "revoke-subject", "alice"}, "alice", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, errOut, code, got := runRevokingProbe(t, tc.args...)
			if code != 0 || len(got) != 1 || got[0] != tc.subject {
				t.Fatalf("exit %d, sent %q; want 0 and the subject %q as typed", code, got, tc.subject)
			}
			if noted := strings.Contains(errOut, "is taken as typed, backslashes and quotes included"); noted != tc.note {
				t.Errorf("stderr %q; want a note of the escape: %v", errOut, tc.note)
			}
		})
	}
}

// runRevokingProbe runs a revoking command in-process against a server
// that records the subject each request carried (the last of an incident's
// list, or the path of a revoke-subject) and answers that none was revoked.
func runRevokingProbe(t *testing.T, args ...string) (stdout, stderr string, code int, got []string) {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodDelete {
			got = append(got, strings.TrimSuffix(strings.TrimPrefix(r.URL.Path, "/v1/subjects/"), "/sessions"))
		} else {
			var in struct{ Subjects []string }
			_ = json.NewDecoder(r.Body).Decode(&in)
			got = append(got, in.Subjects[len(in.Subjects)-1])
		}
		w.Write([]byte(`{"revoked":0}`))
	}))
	defer srv.Close()
	stdout, stderr, code = runInProcess([]string{"SESSIOND_URL=" + srv.URL, "SESSIOND_API_KEY=sdak_probe"}, args...)
	return stdout, stderr, code, got
}
