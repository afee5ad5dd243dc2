package main

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sessiond/sessiond/internal/config"
	"github.com/sessiond/sessiond/internal/testenv"
)

// TestApp_HMACSecretFile: jwt.hs256_secret_file is read as a secret file:
// a directory or a file over config.MaxSecretFileSize is refused with an
// error naming the file and never quoting it (the FIFO case is in
// secretfile_unix_test.go).
func TestApp_HMACSecretFile(t *testing.T) {
	dir := t.TempDir()
	const mark = "do-not-print-me-"
	key := strings.Repeat("k", 32)
	for _, tc := range []struct {
		name    string
		path    string
		want    string // the secret, when read
		wantErr error  // nil: any error will do when want is ""
	}{
		{name: "file", path: testenv.WriteFile(t, dir, "ok", key+"\r\n"), want: key},
		{name: "file at the size bound", path: testenv.WriteFile(t, dir, "bound", strings.Repeat("b", config.MaxSecretFileSize)),
			want: strings.Repeat("b", config.MaxSecretFileSize)},
		{name: "file over the size bound", path: testenv.WriteFile(t, dir, "big", strings.Repeat(mark, config.MaxSecretFileSize/len(mark)+1)),
			wantErr: config.ErrSecretTooLarge},
		{name: "directory", path: dir, wantErr: config.ErrSecretNotRegular},
		{name: "missing file", path: filepath.Join(dir, "nope")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := config.Default()
			cfg.JWT.Algorithm, cfg.JWT.HS256SecretFile = "HS256", tc.path
			got, err := (&app{}).hmacSecret(cfg)
			if tc.want != "" {
				if err != nil || string(got) != tc.want {
					t.Fatalf("hmacSecret = %d bytes, %v; want the %d bytes of the file", len(got), err, len(tc.want))
				}
				return
			}
			if err == nil || tc.wantErr != nil && !errors.Is(err, tc.wantErr) {
				t.Fatalf("hmacSecret = %d bytes, %v; want error %v", len(got), err, tc.wantErr)
			}
			if msg := err.Error(); !strings.Contains(msg, tc.path) || !strings.Contains(msg, "jwt.hs256_secret_file") || strings.Contains(msg, mark) {
				t.Errorf("hmacSecret error %.300q; want one naming jwt.hs256_secret_file and %s, never the content", msg, tc.path)
			}
		})
	}
}

// TestApp_HMACSecretAsValidated: the validator (SD-JWT-003) checks the
// very bytes serve then uses as the HS256 key. Both drop the line breaks
// that end the file and nothing else, so white space around the key
// neither hides a short key from the validator nor changes the key serve
// uses.
func TestApp_HMACSecretAsValidated(t *testing.T) {
	const (
		k31 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcde" // 31 distinct bytes: random enough, one short
		k32 = k31 + "f"
	)
	dir := t.TempDir()
	for _, tc := range []struct {
		name, text, key string
	}{
		{"line break", k32 + "\n", k32},
		{"CRLF", k31 + "\r\n", k31},
		{"short key and a trailing space", k31 + " ", k31 + " "},
		{"short key and a trailing tab", k31 + "\t\n", k31 + "\t"},
		{"short key after a space", " " + k31 + "\n", " " + k31},
		{"key and trailing spaces", k32 + "  \n", k32 + "  "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := config.Default()
			cfg.Strategy = "jwt"
			cfg.JWT.Algorithm = "HS256"
			cfg.JWT.HS256SecretFile = testenv.WriteFile(t, dir, strings.ReplaceAll(tc.name, " ", "-"), tc.text)
			key, err := (&app{}).hmacSecret(cfg)
			if err != nil || string(key) != tc.key {
				t.Fatalf("hmacSecret(%q) = %q, %v; want %q", tc.text, key, err, tc.key)
			}
			var finding string
			for _, f := range config.Validate(cfg, nil, config.EnvProduction) {
				if f.RuleID == "SD-JWT-003" {
					finding = f.Message
				}
			}
			short := len(key) < 32
			switch {
			case short && !strings.Contains(finding, fmt.Sprintf("is %d bytes", len(key))):
				t.Errorf("serve uses a %d-byte key; validator SD-JWT-003 = %q, want it to report those %d bytes", len(key), finding, len(key))
			case !short && finding != "":
				t.Errorf("serve uses a %d-byte key; validator SD-JWT-003 = %q, want no finding", len(key), finding)
			}
		})
	}
}

// TestApp_HMACSecretFromEnv: a key from SESSIOND_JWT_HS256_SECRET, which
// the validator never reads (SD-JWT-002), is held by serve to SD-JWT-003
// as a key file is: short or password-like, it is refused, naming the
// variable and the rule and never the key.
func TestApp_HMACSecretFromEnv(t *testing.T) {
	const random = "Kq3vZ8pLw2XyR7tN0bFj5HdMs9GcVaE1" // 32 bytes, 32 distinct
	for _, tc := range []struct {
		name, key string
		ok        bool
	}{
		{"random 32 bytes", random, true},
		{"31 bytes", random[:31], false},
		{"a password repeated", "passwordpasswordpasswordpassword", false},
		{"one byte repeated", strings.Repeat("a", 48), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := config.Default()
			cfg.JWT.Algorithm = "HS256"
			a := &app{environ: []string{"SESSIOND_JWT_HS256_SECRET=" + tc.key}}
			got, err := a.hmacSecret(cfg)
			if tc.ok {
				if err != nil || string(got) != tc.key {
					t.Fatalf("hmacSecret = %d bytes, %v; want the key", len(got), err)
				}
				return
			}
			if err == nil {
				t.Fatalf("hmacSecret accepted %q from the environment", tc.key)
			}
			if msg := err.Error(); !strings.Contains(msg, "SESSIOND_JWT_HS256_SECRET") || !strings.Contains(msg, "SD-JWT-003") || strings.Contains(msg, tc.key) {
				t.Errorf("hmacSecret error %q; want one naming the variable and SD-JWT-003, never the key", msg)
			}
		})
	}
}
