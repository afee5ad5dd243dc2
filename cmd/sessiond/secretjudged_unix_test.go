//go:build unix

package main

import (
	"crypto/rand"
	"encoding/base64"
	"net"
	"os"
	"strings"
	"testing"

	"github.com/sessiond/sessiond/internal/testenv"
)

// TestServe_JudgesSecretFiles: serve judges the secret files it is given
// as `config validate` does, at start. A KEK file every local user can
// read is taken, with a warning naming the setting, the file and its mode
// (SD-SECRET-001), never the key. A webhook key typed by hand (a phrase
// repeated to length) is refused as the HS256 key is (SD-WEBHOOK-006):
// exit 78, naming the rule and the file, never the key, and nothing made.
func TestServe_JudgesSecretFiles(t *testing.T) {
	dir := t.TempDir()
	t.Run("world-readable KEK", func(t *testing.T) {
		raw := make([]byte, 32)
		_, _ = rand.Read(raw)
		kek := base64.StdEncoding.EncodeToString(raw)
		file := testenv.WriteFile(t, dir, "kek", kek+"\n")
		if err := os.Chmod(file, 0o644); err != nil {
			t.Fatal(err)
		}
		n := startNode(t, nodeConfig{yaml: "signing:\n  kek_file: " + file + "\n"})
		n.stop()
		log := n.log.String()
		if strings.Contains(log, kek) {
			t.Errorf("the log holds the KEK:\n%s", log)
		}
		var warned bool
		for line := range strings.Lines(log) {
			warned = warned || strings.Contains(line, `"level":"WARN"`) && strings.Contains(line, `"rule":"SD-SECRET-001"`) &&
				strings.Contains(line, file+" has mode 0644: every user can read it")
		}
		if !warned {
			t.Errorf("no SD-SECRET-001 warning naming %s and its mode; the log:\n%s", file, log)
		}
	})
	t.Run("typed webhook key", func(t *testing.T) {
		const phrase = "my-webhook-secret!"
		file := testenv.WriteFile(t, dir, "hook.whsec", "whsec_"+base64.StdEncoding.EncodeToString([]byte(phrase+phrase))+"\n")
		// An address already in use: a serve that does not refuse the key
		// fails there rather than serving on.
		busy, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer busy.Close()
		data := t.TempDir()
		cfg := testenv.WriteFile(t, t.TempDir(), "sessiond.yaml", "webhooks:\n  - url: https://hooks.example.com/in\n    secret_file: "+file+"\n")
		_, errOut, code := runInProcess(nil, "serve", "--listen", busy.Addr().String(), "--data", data, "--config", cfg)
		if code != exitConfig {
			t.Errorf("serve = exit %d; want %d (EX_CONFIG)\n%s", code, exitConfig, errOut)
		}
		if !strings.Contains(errOut, "error SD-WEBHOOK-006 webhooks.0.secret_file: webhook 0 key in "+file) {
			t.Errorf("stderr does not report SD-WEBHOOK-006 for %s:\n%s", file, errOut)
		}
		if strings.Contains(errOut, phrase) || strings.Contains(errOut, base64.StdEncoding.EncodeToString([]byte(phrase+phrase))) {
			t.Errorf("stderr quotes the key:\n%s", errOut)
		}
		if entries, err := os.ReadDir(data); err != nil || len(entries) != 0 {
			t.Errorf("data directory after the refusal holds %d entries (%v); want none", len(entries), err)
		}
	})
}
