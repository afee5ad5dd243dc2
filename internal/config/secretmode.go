package config

import (
	"fmt"
	"iter"
	"net/url"
	"os"
	"path/filepath"
	"strings"
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
	for _, k := range dsnSecretKeys {
		if v := dsnSecretParams(dsn)[k]; v != "" {
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

// dsnSecretParams is the sslkey and passfile parameters a PostgreSQL DSN
// sets, in a URL's query or in the keyword/value form (dsnKeywords).
func dsnSecretParams(dsn string) map[string]string {
	out := map[string]string{}
	if u, err := url.Parse(dsn); err == nil && (u.Scheme == "postgres" || u.Scheme == "postgresql") {
		q := u.Query()
		for _, k := range dsnSecretKeys {
			if v := q.Get(k); v != "" {
				out[k] = v
			}
		}
		return out
	}
	for k, v := range dsnKeywords(dsn) {
		if _, ok := dsnSecretEnv[k]; ok && v != "" {
			out[k] = v
		}
	}
	return out
}

// EnvSecretFiles lists the files holding secrets that the environment
// names and sessiond reads, which the validator (it does not read the
// environment) cannot judge: for a PostgreSQL store, PGSSLKEY and
// PGPASSFILE, which pgx reads, whatever their mode, when store.dsn does
// not set sslkey or passfile. Setting is the variable's name.
func (c Config) EnvSecretFiles(getenv func(string) string) []SecretFile {
	if c.Store.Driver != "postgres" {
		return nil
	}
	set := dsnSecretParams(c.Store.DSN)
	var out []SecretFile
	for _, k := range dsnSecretKeys {
		env := dsnSecretEnv[k]
		if f := getenv(env); f != "" && set[k] == "" {
			out = append(out, SecretFile{Setting: env, File: f})
		}
	}
	return out
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
