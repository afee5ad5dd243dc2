package main

import (
	"bytes"
	"encoding/base64"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/sessiond/sessiond/internal/testenv"
)

// serveExit runs `sessiond serve` on a free loopback port with env and
// returns its exit code and stderr; it fails t if serve is still running
// after 30 s (it started instead of refusing).
func serveExit(t *testing.T, env []string) (int, string) {
	t.Helper()
	cmd := exec.Command(binary(t), "serve", "--listen", "127.0.0.1:0")
	cmd.Env = append(cleanEnv(), env...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		_ = cmd.Process.Kill()
		<-done
		t.Fatalf("serve did not exit within 30s; want a refusal to start\n%s", stderr.String())
	}
	return cmd.ProcessState.ExitCode(), stderr.String()
}

// lastLine is the last non-empty line of text.
func lastLine(text string) string {
	lines := strings.Split(strings.TrimSpace(text), "\n")
	return lines[len(lines)-1]
}

// TestServe_RevokedEnvKeyIsAConfigError: SESSIOND_API_KEY naming a revoked
// key is a configuration problem: serve exits 78 (EX_CONFIG), which the
// systemd unit does not restart on, and its last line names the key.
func TestServe_RevokedEnvKeyIsAConfigError(t *testing.T) {
	env := []string{"SESSIOND_DATA=" + t.TempDir()}
	if _, errOut, code := runCLI(t, env, "keys", "list", "--create"); code != 0 {
		t.Fatalf("keys list --create = exit %d, %q", code, errOut)
	}
	key, errOut, code := runCLI(t, env, "apikey", "create", "--name", "ops")
	id := regexp.MustCompile(`created (key_[a-z2-7]+)`).FindStringSubmatch(errOut)
	if code != 0 || id == nil {
		t.Fatalf("apikey create = exit %d, %q", code, errOut)
	}
	if _, errOut, code := runCLI(t, env, "apikey", "revoke", id[1]); code != 0 {
		t.Fatalf("apikey revoke = exit %d, %q", code, errOut)
	}
	code, stderr := serveExit(t, append(env, "SESSIOND_API_KEY="+strings.TrimSpace(key)))
	if last := lastLine(stderr); code != exitConfig || !strings.Contains(last, "SESSIOND_API_KEY") || !strings.Contains(last, id[1]) {
		t.Errorf("serve with a revoked SESSIOND_API_KEY = exit %d, last line %q; want %d and a line naming SESSIOND_API_KEY and %s",
			code, last, exitConfig, id[1])
	}
}

// TestServe_SealedRingWithoutKEKIsAConfigError: a signing key ring sealed
// with a key-encryption key the node is not given is a configuration
// problem: serve exits 78 (EX_CONFIG) and says which settings give it.
func TestServe_SealedRingWithoutKEKIsAConfigError(t *testing.T) {
	env := []string{"SESSIOND_DATA=" + t.TempDir()}
	kek := "SESSIOND_KEK=" + base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{7}, 32))
	if _, errOut, code := runCLI(t, append(env, kek), "keys", "list", "--create"); code != 0 {
		t.Fatalf("keys list --create with a KEK = exit %d, %q", code, errOut)
	}
	code, stderr := serveExit(t, env)
	if last := lastLine(stderr); code != exitConfig || !strings.Contains(last, "SESSIOND_KEK") || !strings.Contains(last, "signing.kek_file") {
		t.Errorf("serve without the KEK that sealed the ring = exit %d, last line %q; want %d and a line naming signing.kek_file and SESSIOND_KEK",
			code, last, exitConfig)
	}
}

// TestServe_SupersededHS256SecretIsAConfigError: a node started with an
// HS256 secret the cluster has replaced refuses to start (it would switch
// the cluster back); only a change of its settings fixes that, so serve
// exits 78 (EX_CONFIG) and its last line says which settings.
func TestServe_SupersededHS256SecretIsAConfigError(t *testing.T) {
	dir := t.TempDir()
	const yaml = "jwt:\n  algorithm: HS256\n"
	// Two random-looking keys: serve holds a key from the environment to
	// SD-JWT-003, which refuses one byte repeated.
	secret := func(c string) string {
		return "SESSIOND_JWT_HS256_SECRET=" + map[string]string{"a": "Kq3vZ8pLw2XyR7tN0bFj5HdMs9GcVaE1", "b": "Ut6yQm4Ws1Hx9Zc3Jv7Pk0Lb5Rn2Dg8F"}[c]
	}
	for _, s := range []string{secret("a"), secret("b")} { // b replaces a
		n := startNode(t, nodeConfig{dataDir: dir, yaml: yaml, env: []string{s}})
		n.stop()
	}
	cfg := testenv.WriteFile(t, t.TempDir(), "sessiond.yaml", yaml)
	code, stderr := serveExit(t, []string{"SESSIOND_DATA=" + dir, "SESSIOND_CONFIG=" + cfg, secret("a")})
	if last := lastLine(stderr); code != exitConfig || !strings.Contains(last, "SESSIOND_JWT_HS256_SECRET") {
		t.Errorf("serve with a replaced HS256 secret = exit %d, last line %q; want %d and a line naming SESSIOND_JWT_HS256_SECRET",
			code, last, exitConfig)
	}
}

// TestServe_StoreSettingsAreAConfigError: a store.dsn the driver cannot
// parse (another driver's scheme, a malformed parameter) or a namespace
// the store refuses is a configuration problem: no restart fixes it, so
// serve exits 78 (EX_CONFIG), not 1 as for a store that does not answer,
// and its last line names the settings. None of these reaches a server.
// A namespace the store refuses is the validator's already (SD-STORE-010):
// its finding names the key.
func TestServe_StoreSettingsAreAConfigError(t *testing.T) {
	for _, tc := range []struct {
		name, driver, dsn, namespace string
		finding                      string // "": the last line names store.dsn
	}{
		{"redis with a postgres DSN", "redis", "postgres://u@127.0.0.1:1/db", "", ""},
		{"redis database not a number", "redis", "redis://127.0.0.1:1/abc", "", ""},
		{"redis dial_timeout malformed", "redis", "redis://127.0.0.1:1/0?dial_timeout=soon", "", ""},
		{"redis namespace with a brace", "redis", "redis://127.0.0.1:1/0", "a{b", "SD-STORE-010"},
		{"postgres with a redis URL", "postgres", "redis://127.0.0.1:1/0", "", ""},
		{"postgres sslmode unknown", "postgres", "postgres://u@127.0.0.1:1/db?sslmode=bogus", "", ""},
		// The DSN set and the driver left at sqlite: the URL once became
		// a SQLite file at ./postgres:/… and serve ran on it.
		{"sqlite with a postgres URL", "sqlite", "postgres://u@127.0.0.1:1/db", "", ""},
		{"sqlite with a redis URL", "sqlite", "redis://127.0.0.1:1/0", "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env := []string{"SESSIOND_DATA=" + t.TempDir(), "SESSIOND_STORE_DRIVER=" + tc.driver, "SESSIOND_STORE_DSN=" + tc.dsn}
			if tc.namespace != "" { // given empty, the variable is refused
				env = append(env, "SESSIOND_STORE_NAMESPACE="+tc.namespace)
			}
			code, stderr := serveExit(t, env)
			if tc.finding != "" {
				if code != exitConfig || !strings.Contains(stderr, tc.finding) || !strings.Contains(stderr, "store.namespace") {
					t.Errorf("serve = exit %d, stderr %q; want %d and a %s finding naming store.namespace", code, stderr, exitConfig, tc.finding)
				}
				return
			}
			if last := lastLine(stderr); code != exitConfig || !strings.Contains(last, "store.dsn") {
				t.Errorf("serve = exit %d, last line %q; want %d and a line naming store.dsn", code, last, exitConfig)
			}
		})
	}
}

// TestServe_OneProcessPerSQLiteFile: a second `sessiond serve` process on
// the SQLite file a running one holds exits 1 (a restart once the first
// has stopped may succeed), naming the cause: SQLite has no feed, so it
// would verify a session the first one revoked for the rest of its access
// lifetime. Once the first has stopped, it starts.
func TestServe_OneProcessPerSQLiteFile(t *testing.T) {
	dir := t.TempDir()
	first := startNode(t, nodeConfig{dataDir: dir})
	code, stderr := serveExit(t, []string{"SESSIOND_DATA=" + dir})
	if code != 1 || !strings.Contains(stderr, "another sessiond serve uses this SQLite file") {
		t.Errorf("a second serve on the same data directory = exit %d, stderr %q; want 1 and the reason", code, lastLine(stderr))
	}
	// The same file through a symbolic link is the same file.
	other := t.TempDir()
	link := filepath.Join(other, "linked.db")
	if err := os.Symlink(filepath.Join(dir, "sessiond.db"), link); err != nil {
		t.Fatal(err)
	}
	code, stderr = serveExit(t, []string{"SESSIOND_DATA=" + other, "SESSIOND_STORE_DSN=" + link})
	if code != 1 || !strings.Contains(stderr, "another sessiond serve uses this SQLite file") {
		t.Errorf("a second serve on the file through a link = exit %d, stderr %q; want 1 and the reason", code, lastLine(stderr))
	}
	first.stop()
	startNode(t, nodeConfig{dataDir: dir}) // fails the test if it does not start
}

// TestServe_OneProcessPerSQLiteFileLinkedBeforeMade: a serve whose store
// is a symbolic link to a file not made yet takes the lock of the file the
// store then makes, not one beside the link, so a second serve on the
// file's own path is refused.
func TestServe_OneProcessPerSQLiteFileLinkedBeforeMade(t *testing.T) {
	dir, target := t.TempDir(), filepath.Join(t.TempDir(), "real.db")
	link := filepath.Join(dir, "linked.db")
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
	first := startNode(t, nodeConfig{dataDir: dir, env: []string{"SESSIOND_STORE_DSN=" + link}})
	defer first.stop()
	code, stderr := serveExit(t, []string{"SESSIOND_DATA=" + t.TempDir(), "SESSIOND_STORE_DSN=" + target})
	if code != 1 || !strings.Contains(stderr, "another sessiond serve uses this SQLite file") {
		t.Errorf("a second serve on the file a link named before it existed = exit %d, stderr %q; want 1 and the reason", code, lastLine(stderr))
	}
}
