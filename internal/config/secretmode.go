package config

import (
	"fmt"
	"iter"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"github.com/jackc/pgservicefile"
)

// APIKeyFile is the file, in server.data_dir, that serve writes the first
// API key to when SESSIOND_API_KEY is not set, and the CLI reads it from.
const APIKeyFile = "api-key"

// SecretFile is a file the configuration names that holds a secret:
// Setting is the dotted path of the key naming it, File the file.
type SecretFile struct {
	Setting string
	File    string
}

// SecretFiles lists every file holding a secret that sessiond reads as
// the configuration c says, in the order of the file's sections:
// server.tls_key_file, <server.data_dir>/api-key (under the path
// server.data_dir), jwt.hs256_secret_file, signing.kek_file and
// signing.old_kek_files, each webhook's secret_file, each Shared Signals
// receiver's bearer_token_file and poll_authorization_file, and the
// client key and password file a PostgreSQL store.dsn names (sslkey,
// passfile: libpq refuses either readable by others, pgx reads them
// as they are). Keys left empty are skipped; the files need not exist.
func (c Config) SecretFiles() []SecretFile {
	var out []SecretFile
	add := func(setting, file string) {
		if file != "" {
			out = append(out, SecretFile{Setting: setting, File: file})
		}
	}
	add("server.tls_key_file", c.Server.TLSKeyFile)
	if c.Server.DataDir != "" {
		add("server.data_dir", filepath.Join(c.Server.DataDir, APIKeyFile))
	}
	add("jwt.hs256_secret_file", c.JWT.HS256SecretFile)
	add("signing.kek_file", c.Signing.KEKFile)
	for i, f := range c.Signing.OldKEKFiles {
		add(fmt.Sprintf("signing.old_kek_files.%d", i), f)
	}
	for i, w := range c.Webhooks {
		add(fmt.Sprintf("webhooks.%d.secret_file", i), w.SecretFile)
	}
	for i, r := range c.SSF.Receivers {
		add(fmt.Sprintf("ssf.receivers.%d.bearer_token_file", i), r.BearerTokenFile)
		add(fmt.Sprintf("ssf.receivers.%d.poll_authorization_file", i), r.PollAuthorizationFile)
	}
	if c.Store.Driver == "postgres" {
		for _, f := range dsnFiles(c.Store.DSN) {
			add("store.dsn", f)
		}
	}
	return out
}

// dsnFiles is the files a PostgreSQL DSN names that hold secrets: its
// sslkey and passfile parameters, in a URL's query or in the
// keyword/value form (dsnKeywords).
func dsnFiles(dsn string) []string {
	var out []string
	set := dsnParams(dsn)
	for _, k := range dsnSecretKeys {
		if v := set[k]; v != "" {
			out = append(out, v)
		}
	}
	return out
}

// dsnSecretKeys are the DSN parameters naming files with secrets, and
// dsnSecretEnv the environment variables pgx reads for each when the DSN
// does not set it.
var (
	dsnSecretKeys = []string{"sslkey", "passfile"}
	dsnSecretEnv  = map[string]string{"sslkey": "PGSSLKEY", "passfile": "PGPASSFILE"}
)

// dsnWanted are the parameters that decide which secret files pgx reads,
// with the environment variable of each.
var dsnWanted = map[string]string{
	"sslkey": "PGSSLKEY", "passfile": "PGPASSFILE", "password": "PGPASSWORD",
	"service": "PGSERVICE", "servicefile": "PGSERVICEFILE",
	"sslmode": "PGSSLMODE", "sslcertmode": "PGSSLCERTMODE",
}

// dsnParams is the parameters of dsnWanted a PostgreSQL DSN sets, as pgx
// v5 reads them (pgconn's ParseConfig): in a URL (postgres:// or
// postgresql://, as spelled) the userinfo's password and the query, split
// at '&' alone, each value percent-decoded with '+' kept, the last of a
// repeated key winning; otherwise the keyword/value form (dsnKeywords),
// the last of a repeated keyword winning. A parameter set empty is
// present: it overrides the environment's.
func dsnParams(dsn string) map[string]string {
	out := map[string]string{}
	rest, ok := strings.CutPrefix(dsn, "postgres://")
	if !ok {
		rest, ok = strings.CutPrefix(dsn, "postgresql://")
	}
	if !ok {
		for k, v := range dsnKeywords(dsn) {
			if _, ok := dsnWanted[k]; ok {
				out[k] = v
			}
		}
		return out
	}
	// The userinfo ends at the first '@' before any '/', wherever a '?'
	// is (pgx, like libpq).
	if i := strings.IndexAny(rest, "@/"); i >= 0 && rest[i] == '@' {
		if _, pw, ok := strings.Cut(rest[:i], ":"); ok && pw != "" {
			if v, err := url.PathUnescape(pw); err == nil {
				out["password"] = v
			}
		}
		rest = rest[i+1:]
	}
	_, query, _ := strings.Cut(rest, "?")
	for pair := range strings.SplitSeq(query, "&") {
		k, v, ok := strings.Cut(pair, "=")
		if !ok {
			continue // pgx refuses the DSN
		}
		k, err1 := url.PathUnescape(k)
		v, err2 := url.PathUnescape(v)
		if _, want := dsnWanted[k]; want && err1 == nil && err2 == nil {
			out[k] = v
		}
	}
	return out
}

// EnvSecretFiles lists the files holding secrets that pgx reads, whatever
// their mode (libpq refuses an sslkey or passfile others can read), for a
// PostgreSQL store but store.dsn does not name, so that the validator (it
// does not read the environment or the home directory) cannot judge them.
// pgx takes each setting from the first of: the DSN, the service the DSN
// or PGSERVICE names (in the DSN's servicefile, PGSERVICEFILE or
// ~/.pg_service.conf), the environment (PGSSLKEY, PGPASSFILE), its
// defaults (~/.pgpass; ~/.postgresql/postgresql.key when
// postgresql.crt is beside it); it reads the passfile only without a
// password (DSN, service or PGPASSWORD), the key only when neither
// sslmode nor sslcertmode is disable (taken in the same order). Setting
// says where the file's name came from. getenv gives the environment,
// HOME included.
func (c Config) EnvSecretFiles(getenv func(string) string) []SecretFile {
	if c.Store.Driver != "postgres" {
		return nil
	}
	dsn := dsnParams(c.Store.DSN)
	env := map[string]string{}
	for k, name := range dsnWanted {
		if v := getenv(name); v != "" { // pgx ignores an empty variable
			env[k] = v
		}
	}
	def := map[string]string{}
	if home := getenv("HOME"); home != "" {
		def["passfile"] = filepath.Join(home, ".pgpass")
		def["servicefile"] = filepath.Join(home, ".pg_service.conf")
		key := filepath.Join(home, ".postgresql", "postgresql.key")
		if _, err := os.Stat(filepath.Join(home, ".postgresql", "postgresql.crt")); err == nil {
			if _, err := os.Stat(key); err == nil {
				def["sslkey"] = key
			}
		}
	}
	lookup := func(k string, from ...map[string]string) (string, bool) {
		for _, m := range from {
			if v, ok := m[k]; ok {
				return v, true
			}
		}
		return "", false
	}
	var svc map[string]string
	var svcName, svcFile string
	if name, ok := lookup("service", dsn, env); ok {
		svcName = name
		svcFile, _ = lookup("servicefile", dsn, env, def)
		svc = serviceParams(svcFile, name)
	}
	var out []SecretFile
	for _, k := range dsnSecretKeys {
		if _, ok := dsn[k]; ok {
			continue // the validator judges it (SD-SECRET-001)
		}
		switch k {
		case "passfile":
			if pw, _ := lookup("password", dsn, svc, env); pw != "" {
				continue // pgx reads no passfile
			}
		case "sslkey":
			mode, _ := lookup("sslmode", dsn, svc, env)
			certMode, _ := lookup("sslcertmode", dsn, svc, env)
			if mode == "disable" || certMode == "disable" {
				continue // pgx reads no client key
			}
		}
		var f SecretFile
		if v, ok := svc[k]; ok {
			f = SecretFile{Setting: fmt.Sprintf("%s of service %q in %s", k, svcName, svcFile), File: v}
		} else if v, ok := env[k]; ok {
			f = SecretFile{Setting: dsnSecretEnv[k], File: v}
		} else if v, ok := def[k]; ok {
			f = SecretFile{Setting: "default " + k, File: v}
		}
		if f.File != "" {
			out = append(out, f)
		}
	}
	return out
}

// serviceParams is the settings of service name in the service file at
// path, as pgx reads them (nil when it cannot: pgx then refuses the DSN,
// and serve does not start).
func serviceParams(path, name string) map[string]string {
	sf, err := pgservicefile.ReadServicefile(path)
	if err != nil {
		return nil
	}
	s, err := sf.GetService(name)
	if err != nil {
		return nil
	}
	return s.Settings
}

// SecretFileExposure says who besides its owner can read or change the
// file at path ("" for nobody, a missing file or not a regular file), as
// SD-SECRET-001 judges the configuration's secret files, and its mode.
func SecretFileExposure(path string) (os.FileMode, string) {
	fi, err := os.Stat(path) // through symbolic links: the file read
	if err != nil || !fi.Mode().IsRegular() {
		return 0, ""
	}
	return fi.Mode().Perm(), exposure(fi)
}

// dsnKeywords yields the keywords and values of a keyword/value DSN as
// pgx (like libpq) reads them: a keyword up to '=', a value up to white
// space or quoted with '…', a backslash escaping the next character in
// either. It stops where pgx would refuse the string.
func dsnKeywords(dsn string) iter.Seq2[string, string] {
	return func(yield func(string, string) bool) {
		s := strings.TrimLeft(dsn, dsnSpace)
		for s != "" {
			eq := strings.IndexByte(s, '=')
			if eq < 0 {
				return
			}
			key := strings.Trim(s[:eq], dsnSpace)
			s = strings.TrimLeft(s[eq+1:], dsnSpace)
			quoted := strings.HasPrefix(s, "'")
			if quoted {
				s = s[1:]
			}
			var val strings.Builder
			end := 0
			for ; end < len(s); end++ {
				c := s[end]
				if quoted && c == '\'' || !quoted && strings.IndexByte(dsnSpace, c) >= 0 {
					break
				}
				if c == '\\' {
					if end++; end == len(s) {
						break
					}
				}
				val.WriteByte(s[end])
			}
			if quoted {
				if end >= len(s) {
					return // unterminated: pgx refuses the DSN
				}
				end++
			}
			if !yield(key, val.String()) {
				return
			}
			s = strings.TrimLeft(s[min(end, len(s)):], dsnSpace)
		}
	}
}

// dsnSpace is the white space between a DSN's keywords and values.
const dsnSpace = " \t\n\r\v\f"

// secretModeRule is SD-SECRET-001: a secret file other users may read or
// change. A warning, not a refusal: Kubernetes mounts a Secret's keys
// 0644 unless the volume sets defaultMode, Docker's secrets are 0444, and
// in a container no other user may exist; refusing would stop deployments
// that run. sessiond does not change the mode either (sqlitestore does
// for its own database): the file is the operator's, often on a read-only
// mount.
var secretModeRule = Rule{
	ID: "SD-SECRET-001", Severity: SeverityWarning,
	Title:     "secret file readable or writable by other users",
	Rationale: "A key that other local users (or processes of other users) can read is as good as published to them: an HS256 key or a KEK lets its reader mint tokens for any user, a TLS key lets them impersonate the server, a webhook key lets them forge events; one they can change lets them put their own key in place. OpenSSH refuses such a private key, PostgreSQL such a server key (CWE-276, CWE-732; ASVS 13.3.1).",
	Fix:       "make the file readable by sessiond's user alone: chmod 0600 (or 0400), or 0640 with the file owned by root and the service's group; in Kubernetes set the Secret volume's defaultMode to 0440 and the pod's fsGroup (a Secret's files are root's: a pod not run as root reads them through that group)",
	Check: func(in Input) []Issue {
		var out []Issue
		for _, s := range in.Config.SecretFiles() {
			fi, err := os.Stat(s.File) // through symbolic links: the file read
			if err != nil || !fi.Mode().IsRegular() {
				continue // missing or not a file: serve reports it, the validator need not
			}
			if who := exposure(fi); who != "" {
				out = append(out, issue(s.Setting, "%s %s has mode %04o: %s", s.Setting, s.File, fi.Mode().Perm(), who))
			}
		}
		return out
	},
}
