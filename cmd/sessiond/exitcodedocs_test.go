package main

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/sessiond/sessiond/internal/testenv"
)

// TestDocs_ExitCodes reads the exit statuses README.md, docs/operations.md
// and the commands' help promise, and runs a case of each: the status
// the command exits with is the one the text says. A claim reworded so
// that its pattern no longer matches fails too: update the pattern with
// the text, so that no status the docs name goes unchecked.
func TestDocs_ExitCodes(t *testing.T) {
	dir := t.TempDir()
	empty := filepath.Join(dir, "empty") // a data directory with no store
	notDir := testenv.WriteFile(t, dir, "not-a-directory", "")
	foreign := filepath.Join(dir, "foreign") // a SQLite file without sessiond's tables
	migrated := filepath.Join(dir, "migrated")
	for _, d := range []string{empty, foreign, migrated} {
		if err := os.Mkdir(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	testenv.WriteFile(t, foreign, "sessiond.db", "")
	if _, errOut, code := runInProcess([]string{"SESSIOND_DATA=" + migrated}, "migrate", "--create"); code != 0 {
		t.Fatalf("migrate --create = exit %d, %q", code, errOut)
	}
	absent := filepath.Join(dir, "absent.yaml")
	const withErrors = "../../internal/config/testdata/validate/cookies.yaml"
	const good = "../../internal/config/testdata/validate/good.yaml"
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"revoked":0}`)) // /readyz takes any 200
	}))
	t.Cleanup(up.Close)
	down := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/problem+json")
		w.WriteHeader(http.StatusServiceUnavailable)
		w.Write([]byte(`{"type":"about:blank","title":"Service Unavailable","status":503,"code":"store_unavailable"}`))
	}))
	t.Cleanup(down.Close)
	key := "SESSIOND_API_KEY=sdak_" + strings.Repeat("x", 40)
	// Nothing answers on port 1.
	closed := []string{"SESSIOND_URL=http://127.0.0.1:1", key, "SESSIOND_DATA=" + empty}
	at := func(srv *httptest.Server) []string {
		return []string{"SESSIOND_URL=" + srv.URL, key, "SESSIOND_DATA=" + empty}
	}
	serveAt := []string{"SESSIOND_LISTEN=127.0.0.1:0", "SESSIOND_DATA=" + empty}

	type run struct {
		group int // the status is the claim's group of this number
		env   []string
		args  []string
	}
	for _, tc := range []struct {
		source string // a file, or "help CMD…": that command's --help
		claim  string // a regexp over the text, white space made single spaces
		runs   []run
	}{
		{"README.md", "Exit status: (\\d+) success, (\\d+) failure, (\\d+) usage error; `serve` exits (\\d+) for any configuration problem", []run{
			{1, nil, []string{"version"}},
			{2, closed, []string{"keys", "list"}},
			{3, nil, []string{"version", "--bogus"}},
			{4, []string{"SESSIOND_CONFIG=" + withErrors, "SESSIOND_LISTEN=127.0.0.1:0", "SESSIOND_DATA=" + empty}, []string{"serve"}},
		}},
		{"docs/operations.md", "Exit statuses of `serve`: (\\d+) for a configuration it refuses, .*?; (\\d+) for every other failure to start", []run{
			{1, []string{"SESSIOND_CONFIG=" + absent}, []string{"serve"}},
			{2, []string{"SESSIOND_LISTEN=127.0.0.1:0", "SESSIOND_DATA=" + notDir}, []string{"serve"}},
		}},
		{"docs/operations.md", "With a non-loopback address it exits (\\d+) as without the flag", []run{
			{1, serveAt, []string{"serve", "--insecure-dev", "--config", withErrors, "--listen", "0.0.0.0:0"}},
		}},
		{"docs/operations.md", "`sessiond migrate --check` changes nothing and exits (\\d+), naming them, when migrations are pending, and also exits (\\d+) when it cannot tell", []run{
			{2, []string{"SESSIOND_DATA=" + empty}, []string{"migrate", "--check"}},
		}},
		{"docs/operations.md", "a schema or SQLite file holding no sessiond tables \\(another application's database, an empty file\\) is refused \\(exit (\\d+)\\)", []run{
			{1, []string{"SESSIOND_DATA=" + foreign}, []string{"migrate"}},
			{1, []string{"SESSIOND_DATA=" + foreign}, []string{"keys", "list"}},
		}},
		{"docs/operations.md", "\\| `GET /v1/events`, `sessiond events` \\| 503 \\(the CLI exits (\\d+)\\)", []run{
			{1, at(down), []string{"events"}},
		}},
		{"docs/operations.md", "\\| 503 \\(`sessiond healthcheck` exits (\\d+)\\)", []run{
			{1, at(down), []string{"healthcheck"}},
		}},
		{"docs/operations.md", "`POST /v1/revocations`, `sessiond incident revoke`\\) \\| 503 `store_unavailable` \\(the CLI exits (\\d+)\\)", []run{
			{1, at(down), []string{"incident", "revoke", "--all", "--reason", "r"}},
		}},
		{"docs/operations.md", "The command prints `revoked N sessions in …` and exits (\\d+)", []run{
			{1, at(up), []string{"incident", "revoke", "--all", "--reason", "r"}},
		}},
		{"docs/operations.md", "that matches nothing prints `revoked 0 sessions` and exits (\\d+)", []run{
			{1, at(up), []string{"sessions", "revoke-subject", "nobody"}},
		}},
		{"docs/operations.md", "both are refused \\(400 `invalid_request`; the CLI exits (\\d+) without asking the server\\)", []run{
			{1, closed, []string{"incident", "revoke", "--issued-before", "0001-01-01T00:00:00Z", "--reason", "r"}},
		}},
		{"docs/operations.md", "They refuse, as a usage error \\(exit (\\d+)\\) with nothing sent", []run{
			{1, closed, []string{"sessions", "revoke-subject", "alice", "--except", ""}},
			{1, closed, []string{"incident", "revoke", "--all", "--reason", "a", "--reason", "b"}},
		}},
		{"docs/operations.md", "given empty, as a script's unset variable gives it, it is refused, exit (\\d+), and no key is made", []run{
			{1, closed, []string{"apikey", "create", "--scope", ""}},
		}},
		{"docs/operations.md", "is refused \\(400 `invalid_request`; the CLI exits (\\d+)\\) rather than read as no filter", []run{
			{1, closed, []string{"events", "--subject", ""}},
			{1, closed, []string{"events", "--since", "0001-01-01T00:00:00Z"}},
		}},
		{"docs/operations.md", "The key is printed once, .*? are revoked again, and the command exits (\\d+)", nil}, // apikeycreate_test.go runs it
		{"help serve", "serve exits with status (\\d+) \\(EX_CONFIG\\), whatever the problem: .*?; (\\d+) when it fails to start for another reason", []run{
			{1, []string{"SESSIOND_CONFIG=" + withErrors, "SESSIOND_LISTEN=127.0.0.1:0", "SESSIOND_DATA=" + empty}, []string{"serve"}},
			{1, append([]string{"SESSIOND_API_KEY=short"}, serveAt...), []string{"serve"}},
			{2, []string{"SESSIOND_LISTEN=127.0.0.1:0", "SESSIOND_DATA=" + notDir}, []string{"serve"}},
		}},
		{"help config validate", "Exit status: (\\d+) no errors \\(warnings and infos allowed\\), (\\d+) at least one error, (\\d+) the file is unreadable or not YAML, or the flags are wrong", []run{
			{1, nil, []string{"config", "validate", good}},
			{2, nil, []string{"config", "validate", withErrors}},
			{3, nil, []string{"config", "validate", absent}},
			{3, nil, []string{"config", "validate", good, "--format", "xml"}},
		}},
		{"help config", "Report what is unsafe in a configuration file \\(exit (\\d+) ok, (\\d+) errors, (\\d+) unreadable\\)", []run{
			{1, nil, []string{"config", "validate", good}},
			{2, nil, []string{"config", "validate", withErrors}},
			{3, nil, []string{"config", "validate", notDir + "/x.yaml"}},
		}},
		{"help bench", "Exit status: (\\d+) no error, (\\d+) a setup failure or any failed request, (\\d+) usage", []run{
			// bench_e2e_test.go runs a load that exits 0.
			{2, closed, []string{"bench", "verify", "--duration", "1s"}},
			{3, closed, []string{"bench", "verify", "--concurrency", "0"}},
		}},
		{"help migrate", "With --check, change nothing: exit (\\d+) if no migration of this build is pending, (\\d+) naming those that are", []run{
			{1, []string{"SESSIOND_DATA=" + migrated}, []string{"migrate", "--check"}},
			// A pending migration needs an older schema; TestCLI_LeavesOlderSchemaAlone
			// runs one (and checks only that the status is not 0).
		}},
		{"help healthcheck", "Exit (\\d+) when the running server answers GET /readyz with 200 \\(it serves and its store answers\\), (\\d+) otherwise", []run{
			{1, at(up), []string{"healthcheck"}},
			{2, at(down), []string{"healthcheck"}},
			{2, closed, []string{"healthcheck"}},
		}},
	} {
		t.Run(tc.source+": "+tc.claim[:min(len(tc.claim), 48)], func(t *testing.T) {
			var text string
			if cmd, ok := strings.CutPrefix(tc.source, "help "); ok {
				out, errOut, code := runInProcess(nil, append(strings.Fields(cmd), "--help")...)
				if code != 0 {
					t.Fatalf("sessiond %s --help = exit %d, %q", cmd, code, errOut)
				}
				text = out
			} else {
				b, err := os.ReadFile(filepath.Join("../..", tc.source))
				if err != nil {
					t.Fatal(err)
				}
				text = string(b)
			}
			text = strings.Join(strings.Fields(text), " ")
			m := regexp.MustCompile(tc.claim).FindStringSubmatch(text)
			if m == nil {
				t.Fatalf("%s no longer says %q: update this test with it", tc.source, tc.claim)
			}
			for _, r := range tc.runs {
				want, err := strconv.Atoi(m[r.group])
				if err != nil {
					t.Fatal(err)
				}
				if _, errOut, code := runInProcess(r.env, r.args...); code != want {
					t.Errorf("sessiond %q = exit %d (stderr %q); %s says %d", r.args, code, lastLine(errOut), tc.source, want)
				}
			}
		})
	}
}
