package main

import (
	"os"
	"strings"
	"testing"
)

// TestHS256KeyFromEnvironment: an HS256 key given only as
// SESSIOND_JWT_HS256_SECRET is accepted with the warning SD-JWT-002, a
// short one is refused, and docs/config-rules.md says exactly that (it
// used to say such a key is refused).
func TestHS256KeyFromEnvironment(t *testing.T) {
	const yaml = "jwt:\n  algorithm: HS256\n"
	n := startNode(t, nodeConfig{yaml: yaml, env: []string{"SESSIOND_JWT_HS256_SECRET=" + randomish("k")}})
	if !strings.Contains(n.log.String(), `"rule":"SD-JWT-002","severity":"warning"`) {
		t.Errorf("serve with the HS256 key only in the environment did not log the SD-JWT-002 warning:\n%s", n.log.String())
	}
	n.stop()

	cfg := t.TempDir() + "/hs.yaml"
	os.WriteFile(cfg, []byte(yaml), 0o600)
	_, errOut, code := runCLI(t, []string{"SESSIOND_JWT_HS256_SECRET=" + randomish("k")[:31]},
		"serve", "--config", cfg, "--listen", "127.0.0.1:0", "--data", t.TempDir())
	if code != exitConfig || !strings.Contains(errOut, "at least 32") {
		t.Errorf("serve with a 31-byte HS256 key = exit %d, %q; want a refusal naming 32 bytes", code, errOut)
	}

	b, err := os.ReadFile("../../docs/config-rules.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	i := strings.Index(doc, "### SD-JWT-002")
	if i < 0 {
		t.Fatal("docs/config-rules.md has no SD-JWT-002 section")
	}
	section := doc[i+len("### SD-JWT-002"):]
	section = section[:strings.Index(section, "\n### ")]
	if strings.Contains(section, "refused.") || !strings.Contains(section, "accepted") {
		t.Errorf("docs/config-rules.md SD-JWT-002 does not say that a key only in the environment is accepted:\n%s", section)
	}
}

// randomish is a 32-byte HS256 key for tests, different for each seed,
// that SD-JWT-003 takes for random (no byte repeated often): serve holds
// a key from the environment to that rule.
func randomish(seed string) string {
	const alphabet = "Kq3vZ8pLw2XyR7tN0bFj5HdMs9GcVaE1Ut6yQm4Ws1Hx9Zc3Jv7Pk0Lb5Rn2Dg8F"
	off := 0
	for _, c := range seed {
		off += int(c)
	}
	off %= len(alphabet) - 32
	return alphabet[off : off+32]
}
