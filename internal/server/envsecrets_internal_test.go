package server

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/sessiond/sessiond/internal/config"
)

// TestWarnTypedEnvSecrets: the validator warns of a typed KEK or poll
// credential in a file (SD-JWT-012, SD-SSF-004) but cannot see the
// environment, so serve warns of the same secrets given there, by the
// same measures, without quoting them.
func TestWarnTypedEnvSecrets(t *testing.T) {
	typedKEK := base64.StdEncoding.EncodeToString([]byte(strings.Repeat("Summer2024!", 3)[:32]))
	// A KEK as the docs make one (openssl rand -base64 32): 32 random
	// bytes. 32 base32 letters are not: their counted entropy falls under
	// 128 bits in about one draw in eight (12 of 100 runs
	// failed).
	kek := make([]byte, 32)
	rand.Read(kek)
	randomKEK := base64.StdEncoding.EncodeToString(kek)
	typedAuth := "Bearer " + strings.Repeat("letmein-", 6)
	randomAuth := "Bearer " + rand.Text() + rand.Text()
	poll := config.SSFReceiver{Name: "idp-1", Delivery: config.SSFDeliveryPoll}
	push := config.SSFReceiver{Name: "idp-1", Delivery: config.SSFDeliveryPush}
	for _, tc := range []struct {
		name    string
		kekFile string
		recv    []config.SSFReceiver
		env     map[string]string
		want    []string // rules warned of, in order
	}{
		{"typed SESSIOND_KEK", "", nil, map[string]string{"SESSIOND_KEK": typedKEK}, []string{"SD-JWT-012"}},
		{"random SESSIOND_KEK", "", nil, map[string]string{"SESSIOND_KEK": randomKEK}, nil},
		{"kek_file wins over a typed SESSIOND_KEK", "/nonexistent/kek", nil, map[string]string{"SESSIOND_KEK": typedKEK}, nil},
		{"SESSIOND_KEK not a 32-byte key (serve refuses it elsewhere)", "", nil, map[string]string{"SESSIOND_KEK": "c2hvcnQ="}, nil},
		{"typed poll credential", "", []config.SSFReceiver{poll}, map[string]string{"SESSIOND_SSF_IDP_1_POLL_AUTHORIZATION": typedAuth}, []string{"SD-SSF-004"}},
		{"random poll credential", "", []config.SSFReceiver{poll}, map[string]string{"SESSIOND_SSF_IDP_1_POLL_AUTHORIZATION": randomAuth}, nil},
		{"push receiver ignores the poll variable", "", []config.SSFReceiver{push}, map[string]string{"SESSIOND_SSF_IDP_1_POLL_AUTHORIZATION": typedAuth}, nil},
		{"both", "", []config.SSFReceiver{poll}, map[string]string{"SESSIOND_KEK": typedKEK, "SESSIOND_SSF_IDP_1_POLL_AUTHORIZATION": typedAuth}, []string{"SD-JWT-012", "SD-SSF-004"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := config.Default()
			cfg.Signing.KEKFile = tc.kekFile
			cfg.SSF.Receivers = tc.recv
			var logs bytes.Buffer
			warnTypedEnvSecrets(cfg, func(k string) string { return tc.env[k] }, slog.New(slog.NewTextHandler(&logs, nil)))
			out := logs.String()
			for _, v := range tc.env {
				if strings.Contains(out, v) || strings.Contains(out, strings.TrimPrefix(v, "Bearer ")) {
					t.Errorf("the log quotes a secret:\n%s", out)
				}
			}
			var got []string
			for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
				if _, rule, ok := strings.Cut(line, " rule="); ok && strings.Contains(line, "level=WARN") {
					got = append(got, rule)
				}
			}
			if strings.Join(got, ",") != strings.Join(tc.want, ",") {
				t.Errorf("warned of %v; want %v; the log:\n%s", got, tc.want, out)
			}
		})
	}
}

// TestWarnEnvSecretFiles: PGSSLKEY and PGPASSFILE name files pgx reads
// whatever their mode when the DSN does not set sslkey or passfile: serve
// warns of one that other users can read, as SD-SECRET-001 warns of the
// configuration's own secret files.
func TestWarnEnvSecretFiles(t *testing.T) {
	dir := t.TempDir()
	open := filepath.Join(dir, "open.key")
	closed := filepath.Join(dir, "closed.key")
	for f, mode := range map[string]os.FileMode{open: 0o644, closed: 0o600} {
		if err := os.WriteFile(f, []byte("secret"), mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(f, mode); err != nil { // whatever the umask
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		name   string
		driver string
		dsn    string
		env    map[string]string
		want   []string // variables warned of
	}{
		{"PGSSLKEY readable by others", "postgres", "postgres://db/app", map[string]string{"PGSSLKEY": open}, []string{"PGSSLKEY"}},
		{"PGPASSFILE readable by others", "postgres", "host=db dbname=app", map[string]string{"PGPASSFILE": open}, []string{"PGPASSFILE"}},
		{"both, one private", "postgres", "postgres://db/app", map[string]string{"PGSSLKEY": closed, "PGPASSFILE": open}, []string{"PGPASSFILE"}},
		{"private", "postgres", "postgres://db/app", map[string]string{"PGSSLKEY": closed}, nil},
		{"the DSN's sslkey wins over PGSSLKEY", "postgres", "postgres://db/app?sslkey=" + closed, map[string]string{"PGSSLKEY": open}, nil},
		{"the DSN's passfile wins over PGPASSFILE", "postgres", "host=db passfile=" + closed, map[string]string{"PGPASSFILE": open}, nil},
		{"missing file", "postgres", "postgres://db/app", map[string]string{"PGSSLKEY": filepath.Join(dir, "none")}, nil},
		{"not PostgreSQL", "redis", "redis://127.0.0.1:6379/0", map[string]string{"PGSSLKEY": open}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := config.Default()
			cfg.Store.Driver, cfg.Store.DSN = tc.driver, tc.dsn
			var logs bytes.Buffer
			warnEnvSecretFiles(cfg, func(k string) string { return tc.env[k] }, slog.New(slog.NewTextHandler(&logs, nil)))
			var got []string
			for _, line := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
				if line == "" {
					continue
				}
				if !strings.Contains(line, "level=WARN") || !strings.Contains(line, "rule=SD-SECRET-001") || !strings.Contains(line, "0644") {
					t.Errorf("warning line = %q; want a WARN of SD-SECRET-001 with the mode", line)
				}
				if strings.Contains(line, "secret\n") || strings.Contains(line, `"secret"`) {
					t.Errorf("the log quotes the file's content: %q", line)
				}
				for _, v := range []string{"PGSSLKEY", "PGPASSFILE"} {
					if strings.Contains(line, v+" ") {
						got = append(got, v)
					}
				}
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("warned of %v; want %v\n%s", got, tc.want, logs.String())
			}
		})
	}
}
