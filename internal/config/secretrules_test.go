package config

import (
	"crypto/rand"
	"encoding/base64"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/sessiond/sessiond/jwttoken/signing"
)

// TestValidate_GuessableSecrets: a secret sessiond is given in a file
// that looks typed rather than random is reported: a webhook signing key
// (SD-WEBHOOK-006, an error as SD-JWT-003 is for the HS256 key: the key
// is all that stands between a receiver and forged events), a Shared
// Signals receiver's push token and poll credential (SD-SSF-004, a
// warning: each SET is verified with the transmitter's keys besides) and
// the signing KEK (SD-JWT-012, a warning). A phrase repeated to length
// counts as typed. Random values of the usual spellings are never
// reported, and no finding quotes a secret.
func TestValidate_GuessableSecrets(t *testing.T) {
	dir := t.TempDir()
	file := func(text string) string {
		f, err := os.CreateTemp(dir, "secret")
		if err == nil {
			_, err = f.WriteString(text)
		}
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			t.Fatal(err)
		}
		return f.Name()
	}
	random := func() string { return rand.Text() + rand.Text() } // 52 base32 characters
	whsec := func(key string) string { return "whsec_" + base64.StdEncoding.EncodeToString([]byte(key)) + "\n" }
	basic := func(userPass string) string { return "Basic " + base64.StdEncoding.EncodeToString([]byte(userPass)) }
	kek := func(key string) string { return base64.StdEncoding.EncodeToString([]byte(key)) + "\n" }
	rawKey := func() string { b := make([]byte, 32); _, _ = rand.Read(b); return string(b) }
	receiver := func(k, v string) string {
		return "ssf:\n  receivers:\n    - {name: idp, issuer: \"https://idp.example\", audience: sessiond, jwks_url: \"https://idp.example/jwks\", subject_format: email, " + k + ": " + v + "}\n"
	}
	poller := func(v string) string {
		return "ssf:\n  receivers:\n    - {name: idp, issuer: \"https://idp.example\", audience: sessiond, jwks_url: \"https://idp.example/jwks\", subject_format: email, delivery: poll, poll_url: \"https://idp.example/poll\", poll_authorization_file: " + v + "}\n"
	}
	const typed = "Summer2024!Summer2024!Summer2024!Summer2024!"
	for _, tc := range []struct {
		name, secret string
		yaml         func(path string) string
		rule, path   string
		severity     Severity
	}{
		{"webhook key repeated", whsec("my-webhook-secret!my-webhook-secret!"), func(p string) string {
			return "webhooks:\n  - {url: \"https://h.example/in\", secret_file: " + p + "}\n"
		}, "SD-WEBHOOK-006", "webhooks.0.secret_file", SeverityError},
		{"webhook key a password", whsec("passwordpasswordpasswordpassword"), func(p string) string {
			return "webhooks:\n  - {url: \"https://h.example/in\", secret_file: " + p + "}\n"
		}, "SD-WEBHOOK-006", "webhooks.0.secret_file", SeverityError},
		{"webhook key random", whsec(rawKey()), func(p string) string {
			return "webhooks:\n  - {url: \"https://h.example/in\", secret_file: " + p + "}\n"
		}, "SD-WEBHOOK-006", "webhooks.0.secret_file", ""},
		{"webhook key too short (SD-WEBHOOK-002's)", whsec("short"), func(p string) string {
			return "webhooks:\n  - {url: \"https://h.example/in\", secret_file: " + p + "}\n"
		}, "SD-WEBHOOK-006", "webhooks.0.secret_file", ""},
		{"push token typed", typed + "\n", func(p string) string { return receiver("path: /ssf/idp, bearer_token_file", p) },
			"SD-SSF-004", "ssf.receivers.0.bearer_token_file", SeverityWarning},
		{"push token random", random(), func(p string) string { return receiver("path: /ssf/idp, bearer_token_file", p) },
			"SD-SSF-004", "ssf.receivers.0.bearer_token_file", ""},
		{"push token too short (SD-SSF-001's)", "password", func(p string) string { return receiver("path: /ssf/idp, bearer_token_file", p) },
			"SD-SSF-004", "ssf.receivers.0.bearer_token_file", ""},
		{"poll bearer typed", "Bearer " + typed, poller, "SD-SSF-004", "ssf.receivers.0.poll_authorization_file", SeverityWarning},
		{"poll bearer random", "Bearer " + random() + "\n", poller, "SD-SSF-004", "ssf.receivers.0.poll_authorization_file", ""},
		{"poll basic, typed password", basic("sessiond:Summer2024!"), poller, "SD-SSF-004", "ssf.receivers.0.poll_authorization_file", SeverityWarning},
		{"poll basic, random password", basic("sessiond:" + random()), poller, "SD-SSF-004", "ssf.receivers.0.poll_authorization_file", ""},
		{"KEK typed", kek("this is my kek for prod sessiond"), func(p string) string { return "signing:\n  kek_file: " + p + "\n" },
			"SD-JWT-012", "signing.kek_file", SeverityWarning},
		{"old KEK typed", kek("aaaaaaaabbbbbbbbccccccccdddddddd"), func(p string) string { return "signing:\n  old_kek_files: [" + p + "]\n" },
			"SD-JWT-012", "signing.old_kek_files.0", SeverityWarning},
		{"KEK random", kek(rawKey()), func(p string) string { return "signing:\n  kek_file: " + p + "\n" },
			"SD-JWT-012", "signing.kek_file", ""},
		{"KEK of the wrong size (serve refuses it)", kek("short"), func(p string) string { return "signing:\n  kek_file: " + p + "\n" },
			"SD-JWT-012", "signing.kek_file", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			yaml := tc.yaml(file(tc.secret))
			msg := ""
			if tc.severity != "" {
				msg = "random"
			}
			wantFinding(t, yaml, "", tc.rule, tc.path, tc.severity, msg)
			cfg, doc, _ := Parse([]byte(yaml), "t.yaml")
			for _, f := range Validate(cfg, doc, "") {
				for _, part := range strings.Fields(tc.secret) {
					if len(part) >= 8 && strings.Contains(f.Message+f.Fix, part) {
						t.Errorf("%s quotes the secret: %s", f.RuleID, f.Message)
					}
				}
			}
		})
	}
}

// TestKEKKey_AsParseKEK: the validator reads a KEK file as serve does
// (signing.ParseKEK), so that SD-JWT-012 judges the key serve uses: in
// every spelling ParseKEK takes, and not one of another size.
func TestKEKKey_AsParseKEK(t *testing.T) {
	if kekBytes != signing.KEKSize {
		t.Fatalf("kekBytes = %d; signing.KEKSize = %d", kekBytes, signing.KEKSize)
	}
	key := make([]byte, signing.KEKSize)
	_, _ = rand.Read(key)
	for _, text := range []string{
		base64.StdEncoding.EncodeToString(key) + "\n",
		base64.RawStdEncoding.EncodeToString(key),
		" " + base64.URLEncoding.EncodeToString(key) + " ",
		base64.RawURLEncoding.EncodeToString(key),
		base64.StdEncoding.EncodeToString(key[:16]),
		"not base64!",
	} {
		p := filepath.Join(t.TempDir(), "kek")
		if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		got, ok := kekKey(p)
		_, err := signing.ParseKEK([]byte(text))
		if ok != (err == nil) || ok && string(got) != string(key) {
			t.Errorf("kekKey(%q) = %v; signing.ParseKEK = %v", text, ok, err)
		}
	}
}

// TestSecretFiles_EveryFileKey: every key naming a file is a secret file
// SD-SECRET-001 checks, but the TLS certificate (public), so that a file
// key added later is checked or excluded here on purpose.
func TestSecretFiles_EveryFileKey(t *testing.T) {
	cfg := Default()
	cfg.Server.TLSCertFile, cfg.Server.TLSKeyFile = "cert", "key"
	cfg.JWT.HS256SecretFile = "hs256"
	cfg.Signing.KEKFile, cfg.Signing.OldKEKFiles = "kek", []string{"old"}
	cfg.Webhooks = []Webhook{{SecretFile: "whsec"}}
	cfg.SSF.Receivers = []SSFReceiver{{BearerTokenFile: "bearer", PollAuthorizationFile: "poll"}}
	listed := map[string]bool{}
	for _, s := range cfg.SecretFiles() {
		// webhooks.0.secret_file → webhooks[].secret_file
		k := regexp.MustCompile(`\.\d+`).ReplaceAllString(s.Setting, "[]")
		listed[strings.TrimSuffix(k, "[]")] = true
	}
	if !listed["server.data_dir"] {
		t.Errorf("SecretFiles() does not list the API key in server.data_dir")
	}
	for _, k := range Keys() {
		if !strings.HasSuffix(k, "_file") && !strings.HasSuffix(k, "_files") || k == "server.tls_cert_file" {
			continue
		}
		if !listed[k] {
			t.Errorf("SecretFiles() does not list %s", k)
		}
	}
}

// TestDSNFiles: the secret files a PostgreSQL DSN names, in either form
// libpq and pgx read, and none in a DSN without them.
func TestDSNFiles(t *testing.T) {
	for _, tc := range []struct {
		dsn  string
		want []string
	}{
		{"postgres://app@db/app?sslmode=verify-full&sslkey=/k/client.key&passfile=/k/pgpass", []string{"/k/client.key", "/k/pgpass"}},
		{"postgresql://db/app?sslkey=%2Fk%2Fa%20b.key", []string{"/k/a b.key"}},
		{"postgres://db/app?sslmode=require", nil},
		{"host=db sslkey=/k/client.key passfile = /k/pgpass", []string{"/k/client.key", "/k/pgpass"}},
		{`host=db sslkey='/k/it\'s a key' dbname=app`, []string{"/k/it's a key"}},
		{"host=db mysslkey=/k/x dbname=app", nil},
		// pgx (as libpq) unescapes an unquoted value too, and reads a
		// keyword only where one starts, never inside another's value.
		{`host=db sslkey=/k/a\ b.key dbname=app`, []string{"/k/a b.key"}},
		{`host=db options='-c sslkey=/not/a/key' dbname=app`, nil},
		{`host=db options='-c \' passfile=/not/a/file' sslkey=/k/c.key`, []string{"/k/c.key"}},
		{"postgres://a:5432,b:5433/app?sslkey=/k/multi.key", []string{"/k/multi.key"}},
		{"host=db sslkey='' dbname=app", nil},
		// A URL's query as pgx reads it (checked with pgconn.ParseConfig,
		// whose error names the file it tried): '+' is a plus, ';' no
		// separator, and a repeated key's last value wins; a later empty
		// value (either form) names no file.
		{"postgres://db/app?sslkey=/k/a+b.key", []string{"/k/a+b.key"}},
		{"postgres://db/app?sslkey=/k/a;b.key", []string{"/k/a;b.key"}},
		{"postgres://db/app?sslkey=/k/first.key&sslkey=/k/last.key", []string{"/k/last.key"}},
		{"postgres://db/app?sslkey=/k/first.key&sslkey=", nil},
		{"host=db sslkey=/k/first.key sslkey=''", nil},
		// '?' in the password is the userinfo's, not the query's.
		{"postgres://u:p?x=1@db/app?passfile=/k/pgpass", []string{"/k/pgpass"}},
		{"", nil},
	} {
		if got := dsnFiles(tc.dsn); !slices.Equal(got, tc.want) {
			t.Errorf("dsnFiles(%q) = %q; want %q", tc.dsn, got, tc.want)
		}
	}
	// Only for the PostgreSQL driver: a Redis URL's query means other things.
	cfg := Default()
	cfg.Store.Driver, cfg.Store.DSN = "redis", "redis://db:6379/0?sslkey=/k/x"
	for _, s := range cfg.SecretFiles() {
		if s.Setting == "store.dsn" {
			t.Errorf("SecretFiles() of a Redis DSN lists %s", s.File)
		}
	}
}
