package main

import (
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sessiond/sessiond/internal/testenv"
)

// TestServe_StartProblemsAreConfigErrors: every file the configuration
// names that cannot be used (the KEKs, a webhook secret, the TLS pair,
// the HS256 key), and a SESSIOND_API_KEY or SESSIOND_KEK of the wrong
// form, is a configuration problem: serve lists every one of them at
// once, beside the validator's errors, and exits 78 (EX_CONFIG) before it
// creates anything (it used to exit 1 on the first, having already made
// the store, the signing key ring and <data>/api-key).
func TestServe_StartProblemsAreConfigErrors(t *testing.T) {
	dir := t.TempDir()
	missing := func(name string) string { return filepath.Join(dir, "missing", name) }
	badKEK := testenv.WriteFile(t, dir, "bad.kek", "not a key-encryption key\n")
	garbage := testenv.WriteFile(t, dir, "garbage.pem", "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")
	// An address already in use: a serve that does not refuse at once
	// fails there rather than serving on.
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	for _, tc := range []struct {
		name string
		yaml string
		env  []string
		want []string // each on stderr
	}{
		{
			name: "files missing and a short API key",
			yaml: "strategy: jwt\njwt:\n  algorithm: HS256\n  hs256_secret_file: " + missing("hs256") + "\n" +
				"signing:\n  kek_file: " + missing("kek") + "\n  old_kek_files: [" + missing("old.kek") + "]\n" +
				"webhooks:\n  - name: w\n    url: https://hooks.example.com/x\n    secret_file: " + missing("whsec") + "\n" +
				"server:\n  tls_cert_file: " + missing("cert.pem") + "\n  tls_key_file: " + missing("key.pem") + "\n",
			env: []string{"SESSIOND_API_KEY=short"},
			want: []string{
				"sessiond: jwt.hs256_secret_file: open " + missing("hs256") + ": no such file or directory",
				"sessiond: apikey: SESSIOND_API_KEY: must be at least 32 characters",
				"sessiond: signing.kek_file: open " + missing("kek") + ": no such file or directory",
				"sessiond: signing.old_kek_files[0]: open " + missing("old.kek") + ": no such file or directory",
				"sessiond: webhooks[0].secret_file: open " + missing("whsec") + ": no such file or directory",
				"sessiond: server.tls_cert_file: open " + missing("cert.pem") + ": no such file or directory",
				"sessiond: server.tls_key_file: open " + missing("key.pem") + ": no such file or directory",
			},
		},
		{
			name: "malformed KEK file",
			yaml: "signing:\n  kek_file: " + badKEK + "\n",
			want: []string{"sessiond: signing.kek_file: signing: key-encryption key is not base64"},
		},
		{
			name: "malformed SESSIOND_KEK",
			env:  []string{"SESSIOND_KEK=c2hvcnQ="},
			want: []string{"sessiond: SESSIOND_KEK: signing: key-encryption key is 5 bytes; want 32"},
		},
		{
			name: "API key longer than any request may send",
			env:  []string{"SESSIOND_API_KEY=" + strings.Repeat("k", 513)},
			want: []string{"sessiond: apikey: SESSIOND_API_KEY: must be at most 512 characters"},
		},
		{
			name: "TLS pair that does not parse",
			yaml: "server:\n  tls_cert_file: " + garbage + "\n  tls_key_file: " + garbage + "\n",
			want: []string{"sessiond: server.tls_cert_file, server.tls_key_file: tls: "},
		},
		{
			name: "validator errors and a missing file",
			yaml: "environment: production\ncookie:\n  secure: false\nsigning:\n  kek_file: " + missing("kek") + "\n",
			want: []string{
				":3:11: error SD-COOKIE-002 cookie.secure",
				"sessiond: signing.kek_file: open " + missing("kek") + ": no such file or directory",
			},
		},
		{
			name: "schema errors and a missing file",
			yaml: "bogus: 1\nsigning:\n  kek_file: " + missing("kek") + "\n",
			env:  []string{"SESSIOND_COOKIE_SECUR=1"},
			want: []string{
				":1:1: error SD-SCHEMA-001 bogus",
				"environment: SESSIOND_COOKIE_SECUR",
				"sessiond: signing.kek_file: open " + missing("kek") + ": no such file or directory",
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			data := t.TempDir()
			args := []string{"serve", "--listen", busy.Addr().String(), "--data", data}
			cfg := "(defaults)"
			if tc.yaml != "" {
				cfg = testenv.WriteFile(t, t.TempDir(), "sessiond.yaml", tc.yaml)
				args = append(args, "--config", cfg)
			}
			_, errOut, code := runInProcess(tc.env, args...)
			if code != exitConfig {
				t.Errorf("serve = exit %d; want %d (EX_CONFIG)", code, exitConfig)
			}
			for _, want := range tc.want {
				if !strings.Contains(errOut, want) {
					t.Errorf("stderr does not report %q", want)
				}
			}
			name := "(" + cfg + ")"
			if cfg == "(defaults)" {
				name = cfg // in brackets once
			}
			if want := "sessiond: not starting: fix the configuration problems above " + name; lastLine(errOut) != want {
				t.Errorf("last line %q; want %q", lastLine(errOut), want)
			}
			if t.Failed() {
				t.Logf("stderr:\n%s", errOut)
			}
			// Refused before anything is made: no store, no key ring, no
			// api-key file.
			if entries, err := os.ReadDir(data); err != nil || len(entries) != 0 {
				var names []string
				for _, e := range entries {
					names = append(names, e.Name())
				}
				t.Errorf("data directory after the refusal holds %v (%v); want it empty", names, err)
			}
		})
	}
}
