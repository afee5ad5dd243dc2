package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/client"
	"github.com/sessiond/sessiond/internal/migration"
	"github.com/sessiond/sessiond/internal/testenv"
	"github.com/sessiond/sessiond/sessiondtest"
)

// TestCLI_RefusesToCreateStore: keys, apikey and migrate never create a
// store by accident (a wrong directory, a missing variable), say which
// store they opened, and create one only with --create.
func TestCLI_RefusesToCreateStore(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	env := []string{"SESSIOND_DATA=" + data}
	for _, args := range [][]string{{"keys", "list"}, {"keys", "rotate"}, {"apikey", "create"}, {"apikey", "list"}, {"migrate"}} {
		out, errOut, code := runCLI(t, env, args...)
		if code == 0 || out != "" || !strings.Contains(errOut, "--create") {
			t.Errorf("sessiond %v on no store = exit %d, stdout %q, stderr %q; want a failure that names --create", args, code, out, errOut)
		}
		if _, err := os.Stat(data); !os.IsNotExist(err) {
			t.Fatalf("sessiond %v created %s", args, data)
		}
	}
	out, errOut, code := runCLI(t, append(env, "SESSIOND_STORE_DRIVER=memory"), "apikey", "create", "--create")
	if code == 0 || out != "" || !strings.Contains(errOut, "memory") {
		t.Errorf("apikey create on the memory store = exit %d, stdout %q, stderr %q; want a refusal and no key", code, out, errOut)
	}

	// A migrated but never served store holds no signing keys: still refused.
	if _, errOut, code := runCLI(t, env, "migrate", "--create"); code != 0 || !strings.Contains(errOut, "store: sqlite "+filepath.Join(data, "sessiond.db")) {
		t.Fatalf("migrate --create = exit %d, stderr %q; want success naming the store", code, errOut)
	}
	if _, errOut, code := runCLI(t, env, "apikey", "list"); code == 0 || !strings.Contains(errOut, "no signing keys") {
		t.Errorf("apikey list on a store no server initialised = exit %d, %q; want a refusal", code, errOut)
	}
	if out, errOut, code := runCLI(t, env, "keys", "list", "--create"); code != 0 || strings.Count(out, "\n") != 2 {
		t.Fatalf("keys list --create = exit %d, %q %q; want one new key", code, out, errOut)
	}
	out, errOut, code = runCLI(t, env, "keys", "list", "--json")
	var key struct {
		KID     string `json:"kid"`
		Current bool   `json:"current"`
	}
	if code != 0 || json.Unmarshal([]byte(out), &key) != nil || key.KID == "" || !key.Current ||
		!strings.Contains(errOut, "store: sqlite") {
		t.Errorf("keys list --json = exit %d, %q, stderr %q; want the current key as JSON and the store on stderr", code, out, errOut)
	}

	for _, cmd := range []string{"keys", "apikey", "migrate"} {
		help, _, _ := runCLI(t, nil, cmd, "--help")
		for _, want := range []string{"--create", "refuse", "SESSIOND_CONFIG", "SESSIOND_STORE_DRIVER"} {
			if !strings.Contains(help, want) {
				t.Errorf("sessiond %s --help does not mention %s", cmd, want)
			}
		}
	}
}

// TestCLI_Help: each command's help names the variables it reads, and
// config validate's help lists its own flags, not global ones it rejects.
func TestCLI_Help(t *testing.T) {
	for _, cmd := range [][]string{{"sessions", "--help"}, {"sessions", "list", "--help"}, {"events", "--help"}, {"incident", "revoke", "--help"}} {
		help, _, code := runCLI(t, nil, cmd...)
		for _, want := range []string{"SESSIOND_URL", "SESSIOND_API_KEY", "<data>/api-key"} {
			if code != 0 || !strings.Contains(help, want) {
				t.Errorf("sessiond %v = exit %d, does not mention %s:\n%s", cmd, code, want, help)
			}
		}
	}
	help, _, code := runCLI(t, nil, "config", "validate", "--help")
	if code != 0 || !strings.Contains(help, "--env") || !strings.Contains(help, "--format") || strings.Contains(help, "--config string") {
		t.Errorf("config validate --help = exit %d:\n%s\nwant --env and --format, and no global --config flag", code, help)
	}
	help, _, _ = runCLI(t, nil, "serve", "--help")
	for _, want := range []string{"SESSIOND_API_KEY", "SESSIOND_JWT_HS256_SECRET", "78"} {
		if !strings.Contains(help, want) {
			t.Errorf("serve --help does not mention %s", want)
		}
	}
}

// TestCLI_BadArguments: mistakes are errors with a hint, never silently
// ignored, and a secret given by mistake is never echoed.
func TestCLI_BadArguments(t *testing.T) {
	const secret = "sdak_0123456789abcdefghijklmnopqrstuvwxyzABCDEFG"
	cases := []struct {
		name string
		env  []string
		args []string
		code int
		want string
	}{
		{"unknown type", nil, []string{"events", "--type", "session.creatd"}, 2, "unknown event type"},
		{"limit 0", nil, []string{"events", "--limit", "0"}, 2, "1 to 1000"},
		{"limit 1001", nil, []string{"events", "--limit", "1001"}, 2, "1 to 1000"},
		{"bad since", nil, []string{"events", "--since", "yesterday"}, 2, "duration back from now"},
		{"url without scheme", []string{"SESSIOND_URL=127.0.0.1:8420", "SESSIOND_API_KEY=" + secret}, []string{"sessions", "list", "--subject", "a"}, 2, "http://127.0.0.1:8420"},
		{"url flag without scheme", []string{"SESSIOND_API_KEY=" + secret}, []string{"events", "--url", "localhost:8420"}, 2, "no scheme"},
		{"apikey revoke a secret", nil, []string{"apikey", "revoke", secret}, 2, "not an API key ID"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			env := append([]string{"SESSIOND_DATA=" + t.TempDir()}, tc.env...)
			out, errOut, code := runCLI(t, env, tc.args...)
			if code != tc.code || !strings.Contains(errOut, tc.want) {
				t.Errorf("sessiond %v = exit %d, stderr %q; want exit %d with %q", tc.args, code, errOut, tc.code, tc.want)
			}
			if strings.Contains(out+errOut, secret) {
				t.Errorf("sessiond %v echoed the API key: %q %q", tc.args, out, errOut)
			}
		})
	}
}

func TestParseSince(t *testing.T) {
	now := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		in   string
		want time.Time
		ok   bool
	}{
		{"1h", now.Add(-time.Hour), true},
		{"90m", now.Add(-90 * time.Minute), true},
		{"7d", now.Add(-7 * 24 * time.Hour), true},
		{"2026-11-01T00:00:00Z", time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC), true},
		{"0s", time.Time{}, false},
		{"-1h", time.Time{}, false},
		{"yesterday", time.Time{}, false},
		{"", time.Time{}, false},
	} {
		got, err := parseSince(tc.in, now)
		if (err == nil) != tc.ok || tc.ok && !got.Equal(tc.want) {
			t.Errorf("parseSince(%q) = %v, %v; want %v (ok %v)", tc.in, got, err, tc.want, tc.ok)
		}
	}
}

// TestCLI_Operator against a running server: events newest first with a
// relative --since, --json on listings, plurals, and no terminal escape
// from a stored value reaching the screen.
func TestCLI_Operator(t *testing.T) {
	n := startNode(t, nodeConfig{env: []string{"SESSIOND_API_KEY=" + testAPIKey}})
	c := n.client()
	ctx := context.Background()
	// An attacker's User-Agent: set the window title, clear the screen,
	// a C1 CSI and a right-to-left override.
	evilUA := "Mozilla/5.0\x1b]0;pwned\x07\x1b[2J\u009b31m\u202egnp.exe"
	first, err := c.CreateSession(ctx, client.CreateRequest{Subject: "ivy", Client: sessiond.Client{IP: "192.0.2.1", UserAgent: evilUA}})
	if err != nil {
		t.Fatal(err)
	}
	second, err := c.CreateSession(ctx, client.CreateRequest{Subject: "ivy"})
	if err != nil {
		t.Fatal(err)
	}

	out, errOut, code := n.cli("sessions", "list", "--subject", "ivy")
	if code != 0 || !strings.Contains(out, string(first.Session.ID)) {
		t.Fatalf("sessions list = %d %q %q", code, out, errOut)
	}
	if strings.ContainsAny(out, "\x1b\x07\u009b\u202e") {
		t.Errorf("sessions list printed control characters from a User-Agent: %q", out)
	}
	if !strings.Contains(out, `Mozilla/5.0\x1b]0;pwned\x07\x1b[2J\u009b31m\u202egnp.exe`) {
		t.Errorf("sessions list = %q; want the User-Agent with its controls escaped", out)
	}
	out, _, code = n.cli("sessions", "list", "--subject", "ivy", "--json")
	if strings.ContainsAny(out, "\x1b\x07\u009b\u202e") {
		t.Errorf("sessions list --json printed raw control characters: %q", out)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	var s client.Session
	if code != 0 || len(lines) != 2 || json.Unmarshal([]byte(lines[0]), &s) != nil {
		t.Fatalf("sessions list --json = %d %q; want two JSON lines", code, out)
	}
	found := false
	for _, l := range lines {
		_ = json.Unmarshal([]byte(l), &s)
		found = found || s.Client.UserAgent == evilUA
	}
	if !found {
		t.Errorf("sessions list --json lost the User-Agent's value: %q", out)
	}

	// Newest first by default, within a relative window.
	out, errOut, code = n.cli("events", "--since", "1h", "--type", "session.created", "--limit", "1")
	if code != 0 || !strings.Contains(out, string(second.Session.ID)) || strings.Contains(out, string(first.Session.ID)) {
		t.Errorf("events --limit 1 = %d %q %q; want only the newest login", code, out, errOut)
	}
	out, _, code = n.cli("events", "--type", "session.created", "--json")
	lines = strings.Split(strings.TrimSpace(out), "\n")
	if code != 0 || len(lines) != 2 || !strings.Contains(lines[0], string(second.Session.ID)) || !strings.Contains(lines[1], string(first.Session.ID)) {
		t.Errorf("events --json = %d %q; want the two logins, newest first", code, out)
	}
	if strings.ContainsAny(out, "\x1b\x07\u009b\u202e") {
		t.Errorf("events --json printed raw control characters: %q", out)
	}
	out, _, _ = n.cli("events", "--type", "session.created", "--oldest-first")
	if i, j := strings.Index(out, string(first.Session.ID)), strings.Index(out, string(second.Session.ID)); i < 0 || j < i {
		t.Errorf("events --oldest-first = %q; want the first login first", out)
	}
	if out, _, _ := n.cli("events", "--subject", "ivy"); strings.ContainsAny(out, "\x1b\x07\u009b\u202e") {
		t.Errorf("events printed control characters: %q", out)
	}

	out, _, code = n.cli("sessions", "revoke-subject", "ivy", "--except", string(second.Session.ID))
	if code != 0 || out != "revoked 1 session\n" {
		t.Errorf("revoke-subject = %d %q; want \"revoked 1 session\"", code, out)
	}
	out, _, _ = n.cli("sessions", "revoke-subject", "ivy")
	if out != "revoked 1 session\n" {
		t.Errorf("revoke-subject = %q", out)
	}
	out, _, _ = n.cli("sessions", "revoke-subject", "nobody")
	if out != "revoked 0 sessions\n" {
		t.Errorf("revoke-subject of nobody = %q; want \"revoked 0 sessions\"", out)
	}
	out, _, code = n.cli("apikey", "list", "--json")
	if code != 0 || !strings.Contains(out, `"id":"key_`) || strings.Contains(out, testAPIKey) {
		t.Errorf("apikey list --json = %d %q", code, out)
	}
}

// TestCLI_ServeReportsEveryProblem: one run of serve shows every problem
// of the file and of the environment, naming the file, with exit 78.
func TestCLI_ServeReportsEveryProblem(t *testing.T) {
	cfg := filepath.Join(t.TempDir(), "bad.yaml")
	os.WriteFile(cfg, []byte("cookie:\n  secur: true\n  http_only: false\nserver:\n  listen: [1]\n"), 0o600)
	_, errOut, code := runCLI(t, []string{"SESSIOND_COOKIE_SECUR=1", "SESSIOND_DATA=" + t.TempDir()}, "serve", "--config", cfg)
	for _, want := range []string{cfg + ":2:3: error SD-SCHEMA-001 cookie.secur", cfg + ":3:14: error SD-COOKIE-001",
		cfg + ":5:11: error SD-SCHEMA-002 server.listen", "environment: SESSIOND_COOKIE_SECUR"} {
		if !strings.Contains(errOut, want) {
			t.Errorf("serve with a bad file does not report %q:\n%s", want, errOut)
		}
	}
	if code != exitConfig {
		t.Errorf("serve with a bad file = exit %d; want %d", code, exitConfig)
	}
	if _, errOut, code := runCLI(t, nil, "serve", "--config", filepath.Join(t.TempDir(), "missing.yaml")); code != exitConfig || !strings.Contains(errOut, "missing.yaml") {
		t.Errorf("serve with a missing file = exit %d, %q; want %d naming the file", code, errOut, exitConfig)
	}
}

// TestCLI_IncidentWithoutAnswer: when `incident revoke` gets no answer (the
// connection drops, it times out), it says the server goes on with a
// revocation it started and that running it again is harmless; an answer
// that refuses the request says only what the server said.
func TestCLI_IncidentWithoutAnswer(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer sdak_refused" {
			conn, _, err := http.NewResponseController(w).Hijack()
			if err == nil {
				conn.Close() // no answer at all
			}
			return
		}
		w.Header().Set("Content-Type", "application/problem+json")
		w.WriteHeader(http.StatusUnauthorized)
		fmt.Fprint(w, `{"type":"about:blank","title":"Unauthorized","status":401,"code":"unauthorized"}`)
	}))
	defer srv.Close()
	const hint = "the same command again is harmless"
	for _, tc := range []struct {
		key      string
		wantHint bool
	}{
		{"sdak_dropped", true},
		{"sdak_refused", false},
	} {
		out, errOut, code := runCLI(t, []string{"SESSIOND_API_KEY=" + tc.key}, "incident", "revoke", "--all", "--reason", "test", "--url", srv.URL)
		if code == 0 || out != "" {
			t.Errorf("%s: exit %d, stdout %q; want a failure and no output", tc.key, code, out)
		}
		if strings.Contains(errOut, hint) != tc.wantHint {
			t.Errorf("%s: stderr %q; want the hint %q: %v", tc.key, errOut, hint, tc.wantHint)
		}
	}
}

// TestCLI_KeysListWritesNothing: keys list only looks. Run from a shell
// whose HS256 secret is not the cluster's, it used to open the ring as a
// server does, which replaces a ring made from another secret: every
// token stopped verifying, and the nodes still holding the old secret
// refused to start. It now refuses with the reason and leaves the ring;
// so does keys rotate, which would have replaced it the same way.
func TestCLI_KeysListWritesNothing(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	cfg := filepath.Join(t.TempDir(), "hs.yaml")
	if err := os.WriteFile(cfg, []byte("jwt:\n  algorithm: HS256\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	env := func(secret string) []string {
		return []string{"SESSIOND_DATA=" + data, "SESSIOND_CONFIG=" + cfg, "SESSIOND_JWT_HS256_SECRET=" + randomish(secret)}
	}
	kid := func(out string) string {
		var key struct {
			KID string `json:"kid"`
		}
		if json.Unmarshal([]byte(out), &key) != nil {
			return ""
		}
		return key.KID
	}
	out, errOut, code := runCLI(t, env("a"), "keys", "list", "--json", "--create")
	first := kid(out)
	if code != 0 || first == "" {
		t.Fatalf("keys list --create = exit %d, %q %q; want the first key", code, out, errOut)
	}
	for _, args := range [][]string{{"keys", "list"}, {"keys", "list", "--create"}, {"keys", "rotate"}} {
		out, errOut, code = runCLI(t, env("b"), args...)
		if code == 0 || out != "" || !strings.Contains(errOut, "HS256 secret is not the one") {
			t.Errorf("sessiond %v with another HS256 secret = exit %d, stdout %q, stderr %q; want a refusal that says why", args, code, out, errOut)
		}
	}
	out, errOut, code = runCLI(t, env("a"), "keys", "list", "--json")
	if got := kid(out); code != 0 || got != first {
		t.Errorf("keys list with the ring's secret = exit %d, kid %q (stderr %q); want the untouched ring's %q", code, got, errOut, first)
	}
}

// TestCLI_RefusesToCreateSchema: on PostgreSQL, a mistyped namespace made
// keys, apikey and migrate create the schema and every table before they
// refused ("holds no sessiond data"); they now refuse first and create
// nothing, and create it only with --create.
func TestCLI_RefusesToCreateSchema(t *testing.T) {
	dsn := sessiondtest.RequireEnv(t, "SESSIOND_TEST_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/test?sslmode=disable")
	ns := testenv.PostgresSchema(t, dsn, "typo")
	env := []string{"SESSIOND_STORE_DRIVER=postgres", "SESSIOND_STORE_DSN=" + dsn, "SESSIOND_STORE_NAMESPACE=" + ns}
	schemaExists := func() bool {
		ctx := context.Background()
		conn, err := pgx.Connect(ctx, dsn)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close(ctx)
		var n int
		if err := conn.QueryRow(ctx, "SELECT count(*) FROM pg_namespace WHERE nspname = $1", ns).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n == 1
	}
	for _, args := range [][]string{{"keys", "list"}, {"keys", "rotate"}, {"apikey", "create"}, {"apikey", "list"}, {"migrate"}} {
		out, errOut, code := runCLI(t, env, args...)
		if code == 0 || out != "" || !strings.Contains(errOut, "--create") || !strings.Contains(errOut, ns) {
			t.Errorf("sessiond %v on a schema that does not exist = exit %d, stdout %q, stderr %q; want a failure naming the schema and --create", args, code, out, errOut)
		}
		if schemaExists() {
			t.Fatalf("sessiond %v created schema %s", args, ns)
		}
	}
	if _, errOut, code := runCLI(t, env, "migrate", "--create"); code != 0 || !schemaExists() {
		t.Fatalf("migrate --create = exit %d, %q, schema made %v; want the schema", code, errOut, schemaExists())
	}
}

// TestCLI_LeavesOlderSchemaAlone: keys and apikey of a newer build refused
// nothing and migrated a schema an older build had made, after which that
// build's servers refuse to restart on it. They now refuse, name the
// migrations they lack and change nothing, as migrate --check does;
// migrate brings it up to date.
func TestCLI_LeavesOlderSchemaAlone(t *testing.T) {
	// older builds a schema with every migration of a store package but
	// the last, and returns that one's name.
	older := func(t *testing.T, pkg string, apply func(m migration.Migration) error) string {
		t.Helper()
		dir := filepath.Join("..", "..", pkg)
		all, err := migration.Load(os.DirFS(dir), "migrations")
		if err != nil || len(all) < 2 {
			t.Fatalf("migrations in %s: %d, %v", dir, len(all), err)
		}
		for _, m := range all[:len(all)-1] {
			if err := apply(m); err != nil {
				t.Fatalf("%s: %v", m.Name, err)
			}
		}
		return all[len(all)-1].Name
	}
	check := func(t *testing.T, env []string, last string, count func() int) {
		t.Helper()
		before := count()
		for _, args := range [][]string{{"keys", "list"}, {"keys", "rotate"}, {"apikey", "create", "--name", "x"}, {"apikey", "list"}, {"migrate", "--check"}} {
			out, errOut, code := runCLI(t, env, args...)
			if code == 0 || out != "" || !strings.Contains(errOut, last) || !strings.Contains(errOut, "sessiond migrate") {
				t.Errorf("sessiond %v on a schema without %s = exit %d, stdout %q, stderr %q; want a failure naming it and sessiond migrate", args, last, code, out, errOut)
			}
			if got := count(); got != before {
				t.Fatalf("sessiond %v changed schema_migrations from %d rows to %d", args, before, got)
			}
		}
		if _, errOut, code := runCLI(t, env, "migrate"); code != 0 || count() != before+1 {
			t.Fatalf("migrate = exit %d, %q, %d rows; want success and %d", code, errOut, count(), before+1)
		}
		if out, errOut, code := runCLI(t, env, "migrate", "--check"); code != 0 || !strings.Contains(out, "no migration pending") {
			t.Errorf("migrate --check after migrate = exit %d, %q %q; want success", code, out, errOut)
		}
		if _, errOut, code := runCLI(t, env, "migrate", "--check", "--create"); code != 2 {
			t.Errorf("migrate --check --create = exit %d, %q; want 2 (usage)", code, errOut)
		}
		if out, errOut, code := runCLI(t, env, "keys", "list", "--create"); code != 0 || strings.Count(out, "\n") != 2 {
			t.Errorf("keys list --create after migrate = exit %d, %q %q; want one new key", code, out, errOut)
		}
	}

	t.Run("SQLite", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "sessiond.db")
		db, err := sql.Open("sqlite", path)
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		if _, err := db.Exec("CREATE TABLE schema_migrations (version INTEGER NOT NULL PRIMARY KEY, applied_at INTEGER NOT NULL DEFAULT (unixepoch())) STRICT"); err != nil {
			t.Fatal(err)
		}
		last := older(t, "sqlitestore", func(m migration.Migration) error {
			if _, err := db.Exec(m.SQL); err != nil {
				return err
			}
			_, err := db.Exec("INSERT INTO schema_migrations (version) VALUES (?)", m.Version)
			return err
		})
		check(t, []string{"SESSIOND_DATA=" + filepath.Dir(path)}, last, func() int {
			var n int
			if err := db.QueryRow("SELECT count(*) FROM schema_migrations").Scan(&n); err != nil {
				t.Fatal(err)
			}
			return n
		})
	})

	t.Run("PostgreSQL", func(t *testing.T) {
		dsn := sessiondtest.RequireEnv(t, "SESSIOND_TEST_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/test?sslmode=disable")
		ns := testenv.PostgresSchema(t, dsn, "older")
		ctx := t.Context()
		conn, err := pgx.Connect(ctx, dsn)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close(context.Background())
		schema := pgx.Identifier{ns}.Sanitize()
		if _, err := conn.Exec(ctx, "CREATE SCHEMA "+schema+"; SET search_path TO "+schema+
			"; CREATE TABLE schema_migrations (version integer NOT NULL PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())"); err != nil {
			t.Fatal(err)
		}
		last := older(t, "pgstore", func(m migration.Migration) error {
			if _, err := conn.Exec(ctx, m.SQL); err != nil {
				return err
			}
			_, err := conn.Exec(ctx, "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)", m.Version, m.Name)
			return err
		})
		check(t, []string{"SESSIOND_STORE_DRIVER=postgres", "SESSIOND_STORE_DSN=" + dsn, "SESSIOND_STORE_NAMESPACE=" + ns}, last, func() int {
			var n int
			if err := conn.QueryRow(ctx, "SELECT count(*) FROM schema_migrations").Scan(&n); err != nil {
				t.Fatal(err)
			}
			return n
		})
	})
}

// TestServe_ManualMigrations: with store.migrate manual, serve creates and
// migrates nothing: it refuses a missing store or one behind its build,
// naming sessiond migrate, and serves once migrate has run.
func TestServe_ManualMigrations(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	env := []string{"SESSIOND_STORE_MIGRATE=manual"}
	refused := func(want string) {
		t.Helper()
		ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, binary(t), "serve", "--listen", "127.0.0.1:0", "--data", data)
		cmd.Env = append(cleanEnv(), env...)
		out, err := cmd.CombinedOutput()
		if err == nil || ctx.Err() != nil || !strings.Contains(string(out), "sessiond migrate") || !strings.Contains(string(out), want) {
			t.Fatalf("serve with store.migrate manual = %v (context %v), output %q; want a refusal naming %q and sessiond migrate", err, ctx.Err(), out, want)
		}
	}
	refused("does not exist")
	if _, err := os.Stat(data); !os.IsNotExist(err) {
		t.Fatalf("serve with store.migrate manual made %s (%v); want nothing created", data, err)
	}
	if _, errOut, code := runCLI(t, []string{"SESSIOND_DATA=" + data}, "migrate", "--create"); code != 0 {
		t.Fatalf("migrate --create = exit %d, %q", code, errOut)
	}
	n := startNode(t, nodeConfig{dataDir: data, env: env})
	if resp, err := http.Get(n.url + "/readyz"); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /readyz after migrate = %v, %v; want 200", resp, err)
	}
	n.stop()

	// As if a newer build were deployed: its last migration not applied.
	db, err := sql.Open("sqlite", filepath.Join(data, "sessiond.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var last int
	if err := db.QueryRow("DELETE FROM schema_migrations WHERE version = (SELECT max(version) FROM schema_migrations) RETURNING version").Scan(&last); err != nil {
		t.Fatal(err)
	}
	refused(fmt.Sprintf("%04d_", last))
	var n2 int
	if err := db.QueryRow("SELECT count(*) FROM schema_migrations WHERE version = ?", last).Scan(&n2); err != nil || n2 != 0 {
		t.Errorf("migration %d recorded %d times after the refusal (%v); want 0: serve must not migrate", last, n2, err)
	}
}
