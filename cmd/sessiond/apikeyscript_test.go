package main

import (
	"encoding/json"
	"strings"
	"testing"
)

// TestCLI_APIKeyOnDatabaseStrategy: a deployment with strategy database
// keeps no signing keys, but its store is one a server used (it holds the
// API keys): apikey list, create and revoke work on it without --create,
// as a script rotating a backend's key runs them.
func TestCLI_APIKeyOnDatabaseStrategy(t *testing.T) {
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			env := append(b.env(t), "SESSIOND_STRATEGY=database")
			n := startNode(t, nodeConfig{env: env})
			out, errOut, code := n.cli("apikey", "list", "--json")
			var first struct {
				ID string `json:"id"`
			}
			if code != 0 || json.Unmarshal([]byte(out), &first) != nil || first.ID == "" {
				t.Fatalf("apikey list --json on a database-strategy store = exit %d, %q, stderr %q; want the generated key", code, out, errOut)
			}
			key, errOut, code := n.cli("apikey", "create", "--name", "billing")
			if code != 0 || !strings.HasPrefix(key, "sdak_") {
				t.Fatalf("apikey create = exit %d, stderr %q; want a key on stdout", code, errOut)
			}
			_, created, _ := strings.Cut(errOut, "created ")
			id, _, _ := strings.Cut(created, " ")
			if out, errOut, code := n.cli("apikey", "revoke", id); code != 0 || out != "revoked "+id+"\n" {
				t.Errorf("apikey revoke %s = exit %d, %q, stderr %q; want it revoked", id, code, out, errOut)
			}
			// Written with the change on every store (MetaChangeRecorder).
			for _, typ := range []string{"api_key.created", "api_key.revoked"} {
				if out, errOut, code := n.cli("events", "--type", typ); code != 0 || !strings.Contains(out, id) {
					t.Errorf("events --type %s = exit %d, %q, stderr %q; want the event of %s", typ, code, out, errOut, id)
				}
			}
			// keys still wants the ring such a deployment lacks: rotate
			// makes none that no node reads.
			for _, args := range [][]string{{"keys", "rotate"}, {"keys", "list"}} {
				if out, errOut, code := n.cli(args...); code != 1 || out != "" || !strings.Contains(errOut, "no signing keys") {
					t.Errorf("%v on a database-strategy store = exit %d, %q, stderr %q; want exit 1 naming the missing signing keys", args, code, out, errOut)
				}
			}
		})
	}
}

// TestCLI_APIKeyCreateEmptyScope: --scope given empty (a script's unset
// $SCOPES) is refused as a usage error, as --scope "," is, rather than
// read as left out: the key would quietly get the default scope, not the
// one the script meant; nothing is created.
func TestCLI_APIKeyCreateEmptyScope(t *testing.T) {
	env := []string{"SESSIOND_DATA=" + t.TempDir()}
	if _, errOut, code := runCLI(t, env, "keys", "list", "--create"); code != 0 {
		t.Fatalf("keys list --create = exit %d, %q", code, errOut)
	}
	for _, scope := range []string{"", ",", " "} {
		out, errOut, code := runCLI(t, env, "apikey", "create", "--scope", scope)
		if code != 2 || out != "" || !strings.Contains(errOut, "scope") {
			t.Errorf("apikey create --scope %q = exit %d, stdout %q, stderr %q; want exit 2, no key", scope, code, out, errOut)
		}
	}
	if out, _, _ := runCLI(t, env, "apikey", "list", "--json"); out != "" {
		t.Errorf("apikey list after the refused creates = %q; want no key", out)
	}
}
