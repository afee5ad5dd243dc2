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

// TestWarnEnvSecretFiles: pgx reads a client key and a password file
// whatever their mode, named by the DSN or else a service file, else
// PGSSLKEY/PGPASSFILE, else its defaults in the home directory (the
// passfile only without a password): serve warns of the one pgx reads
// when other users can read it and the DSN (which SD-SECRET-001 judges)
// does not name it. The precedence was checked against pgconn.ParseConfig,
// whose error names the key file it tried to read.
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
	// Service files (PGSERVICE/PGSERVICEFILE or the DSN's service and
	// servicefile), whose settings pgx puts above the environment's and
	// below the DSN's, and a home with pgx's default files.
	write := func(name, content string, mode os.FileMode) string {
		t.Helper()
		f := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(f), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(f, []byte(content), mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(f, mode); err != nil {
			t.Fatal(err)
		}
		return f
	}
	svcOpen := write("open.conf", "[app]\nhost=db\nsslkey="+open+"\npassfile="+open+"\n", 0o600)
	svcClosed := write("closed.conf", "[app]\nhost=db\nsslkey="+closed+"\npassfile="+closed+"\n", 0o600)
	homeOpen := filepath.Join(dir, "home-open")
	write("home-open/.pgpass", "db:5432:app:app:secret\n", 0o644)
	write("home-open/.postgresql/postgresql.crt", "cert", 0o644)
	write("home-open/.postgresql/postgresql.key", "secret", 0o644)
	homeNoCert := filepath.Join(dir, "home-nocert")
	write("home-nocert/.postgresql/postgresql.key", "secret", 0o644) // pgx takes the key only with the certificate
	for _, tc := range []struct {
		name   string
		driver string
		dsn    string
		env    map[string]string
		want   []string // settings warned of
	}{
		{"a service's sslkey wins over PGSSLKEY", "postgres", "dbname=app",
			map[string]string{"PGSERVICE": "app", "PGSERVICEFILE": svcOpen, "PGSSLKEY": closed, "PGPASSFILE": closed},
			[]string{"sslkey of service", "passfile of service"}},
		{"a private service's files, PGSSLKEY's not read", "postgres", "dbname=app",
			map[string]string{"PGSERVICE": "app", "PGSERVICEFILE": svcClosed, "PGSSLKEY": open}, nil},
		{"the DSN's service and servicefile", "postgres", "service=app servicefile=" + svcOpen,
			map[string]string{"PGSSLKEY": closed}, []string{"sslkey of service", "passfile of service"}},
		{"the DSN's sslkey wins over its service's", "postgres", "service=app servicefile=" + svcOpen + " sslkey=" + closed + " password=pw",
			nil, nil},
		{"pgx's default files", "postgres", "postgres://db/app", map[string]string{"HOME": homeOpen},
			[]string{"default sslkey", "default passfile"}},
		{"no default key without its certificate", "postgres", "postgres://db/app", map[string]string{"HOME": homeNoCert}, nil},
		{"a password in the DSN: no passfile read", "postgres", "postgres://app:pw@db/app?sslkey=" + closed, map[string]string{"HOME": homeOpen}, nil},
		{"PGPASSWORD: no passfile read", "postgres", "postgres://db/app", map[string]string{"PGPASSWORD": "pw", "PGPASSFILE": open}, nil},
		{"the DSN's empty passfile", "postgres", "host=db passfile=''", map[string]string{"PGPASSFILE": open}, nil},
		// pgx reads no client key without TLS or with sslcertmode=disable.
		{"sslmode=disable: no key read", "postgres", "postgres://db/app?sslmode=disable", map[string]string{"PGSSLKEY": open}, nil},
		{"PGSSLMODE=disable: no key read", "postgres", "postgres://db/app", map[string]string{"PGSSLKEY": open, "PGSSLMODE": "disable"}, nil},
		{"the DSN's sslmode over PGSSLMODE", "postgres", "host=db sslmode=require", map[string]string{"PGSSLKEY": open, "PGSSLMODE": "disable"}, []string{"PGSSLKEY"}},
		{"sslcertmode=disable: no key read", "postgres", "host=db sslcertmode=disable", map[string]string{"PGSSLKEY": open}, nil},
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
				for _, v := range []string{"PGSSLKEY ", "PGPASSFILE ", "sslkey of service", "passfile of service", "default sslkey", "default passfile"} {
					if strings.Contains(line, v) {
						got = append(got, strings.TrimSpace(v))
					}
				}
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("warned of %v; want %v\n%s", got, tc.want, logs.String())
			}
		})
	}
}
