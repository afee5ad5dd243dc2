package main

import (
	"io"
	"strings"
	"testing"

	"github.com/sessiond/sessiond/internal/apikey"
)

// TestREADME_APIKeyExample: the README's `apikey create` example makes a
// key for a backend that logs users in: it logs in, refreshes and logs out
// (sessions:write) and verifies (verify), the scopes operations.md's
// least-privilege advice gives it. With sessions:write alone every verify
// was refused 403 insufficient_scope.
func TestREADME_APIKeyExample(t *testing.T) {
	block := readmeBlock(t, "## The CLI")
	for _, line := range strings.Split(block, "\n") {
		line = strings.TrimSpace(line)
		if !strings.HasPrefix(line, "sessiond apikey create ") {
			continue
		}
		args, err := shellWords(line)
		if err != nil {
			t.Fatalf("README: %q: %v", line, err)
		}
		a := &app{stdout: io.Discard, stderr: io.Discard}
		cmd, rest, err := a.rootCmd().Find(args[1:])
		if err != nil {
			t.Fatalf("README: %q: %v", line, err)
		}
		if err := cmd.ParseFlags(rest); err != nil {
			t.Fatalf("README: %q: %v", line, err)
		}
		scopes, err := cmd.Flags().GetStringSlice("scope")
		if err != nil {
			t.Fatalf("README: %q: %v", line, err)
		}
		key := apikey.Key{}
		for _, s := range scopes {
			key.Scopes = append(key.Scopes, apikey.Scope(s))
		}
		for _, need := range []apikey.Scope{apikey.ScopeSessionsWrite, apikey.ScopeVerify} {
			if !key.Allows(need) {
				t.Errorf("README: %q makes a key with scopes %v; want one that allows %s too (a backend that logs users in verifies their tokens)", line, scopes, need)
			}
		}
		return
	}
	t.Fatal("README's CLI block has no `sessiond apikey create` example")
}
