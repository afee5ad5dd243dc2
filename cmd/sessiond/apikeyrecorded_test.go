package main

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sessiond/sessiond/internal/testenv"
)

// TestCLI_APIKeyChangeWithItsEvent: a change made by apikey create,
// set-scopes or revoke and its event are one write. With the store
// refusing the event (a trigger on SQLite's event log, as a full disk
// refuses the insert that needs a new page), the key set is left as it
// was and the command exits 1; before, the change was kept, the command
// exited 0 and only a warning said the event was lost.
func TestCLI_APIKeyChangeWithItsEvent(t *testing.T) {
	dir := t.TempDir()
	env := []string{"SESSIOND_DATA=" + dir}
	if _, errOut, code := runInProcess(env, "keys", "list", "--create"); code != 0 {
		t.Fatalf("keys list --create = exit %d, %q", code, errOut)
	}
	type listed struct {
		ID        string    `json:"id"`
		Name      string    `json:"name"`
		Scopes    []string  `json:"scopes"`
		RevokedAt time.Time `json:"revoked_at"`
	}
	list := func() map[string]listed {
		t.Helper()
		out, errOut, code := runInProcess(env, "apikey", "list", "--json")
		if code != 0 {
			t.Fatalf("apikey list = exit %d, %q", code, errOut)
		}
		byName := map[string]listed{}
		for line := range strings.Lines(out) {
			var k listed
			if err := json.Unmarshal([]byte(line), &k); err != nil {
				t.Fatalf("apikey list --json line %q: %v", line, err)
			}
			byName[k.Name] = k
		}
		return byName
	}
	for _, name := range []string{"scoped", "live"} {
		if _, errOut, code := runInProcess(env, "apikey", "create", "--name", name); code != 0 {
			t.Fatalf("apikey create --name %s = exit %d, %q", name, code, errOut)
		}
	}
	keys := list()
	scoped, live := keys["scoped"].ID, keys["live"].ID

	refusal := testenv.RefuseKeyEvents(t, dir)
	for _, tc := range []struct {
		name string
		args []string
		kept func(map[string]listed) bool
	}{
		{"create", []string{"apikey", "create", "--name", "refused"},
			func(ks map[string]listed) bool { _, ok := ks["refused"]; return ok }},
		{"set-scopes", []string{"apikey", "set-scopes", scoped, "sessions:read"},
			func(ks map[string]listed) bool { return !slices.Equal(ks["scoped"].Scopes, []string{"verify"}) }},
		{"revoke", []string{"apikey", "revoke", live},
			func(ks map[string]listed) bool { return !ks["live"].RevokedAt.IsZero() }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, errOut, code := runInProcess(env, tc.args...)
			t.Logf("apikey %s with its event refused: exit %d, stderr %q", tc.name, code, errOut)
			if code != exitFailure {
				t.Errorf("apikey %s with its event refused = exit %d, stdout %q, stderr %q; want %d", tc.name, code, out, errOut, exitFailure)
			}
			if tc.kept(list()) {
				t.Errorf("apikey %s with its event refused: the change is kept without its event (stderr %q)", tc.name, errOut)
			}
		})
	}
	if got := refusal.Count(t); got != refusal.Before {
		t.Errorf("%d api_key events stored; want the %d stored before the trigger", got, refusal.Before)
	}

	// With the store taking events again, each change is written with its
	// one event; a second revoke records none.
	refusal.Lift(t)
	if out, errOut, code := runInProcess(env, "apikey", "set-scopes", scoped, "sessions:read"); code != 0 || out != scoped+" now has scopes sessions:read\n" {
		t.Fatalf("apikey set-scopes = exit %d, %q, %q", code, out, errOut)
	}
	for _, want := range []string{"revoked ", "already revoked "} {
		if out, errOut, code := runInProcess(env, "apikey", "revoke", live); code != 0 || out != want+live+"\n" {
			t.Fatalf("apikey revoke = exit %d, %q, %q; want %q", code, out, errOut, want+live)
		}
	}
	for id, want := range map[string][]string{
		scoped: {"api_key.created", "api_key.scopes_changed"},
		live:   {"api_key.created", "api_key.revoked"},
	} {
		got := refusal.Types(t, id, "cli", false)
		if !slices.Equal(got, want) {
			t.Errorf("events of key %s = %v; want %v", id, got, want)
		}
	}
}
