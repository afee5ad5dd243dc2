package main

import (
	"strings"
	"testing"
)

// TestCLI_MessageValues: a value a message names (an argument echoed by a
// usage error, an API key's name) is shown as a table cell is: as it is,
// or quoted with its escapes written once, so that a rune shown escaped
// does not pass for the same escape typed. `%q` over clean's escapes
// wrote `"x\\x1b"` for an ESC and for the four characters `\x1b` alike.
func TestCLI_MessageValues(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"event type with an ESC", []string{"events", "--type", "x\x1b"}, `unknown event type "x\x1b";`},
		{"event type with an escape typed", []string{"events", "--type", `x\x1b`}, `unknown event type "x\\x1b";`},
		{"time with an ESC", []string{"incident", "revoke", "--issued-before", "2026\x1b", "--reason", "r"}, `got "2026\x1b"`},
		{"help topic with an escape typed", []string{"help", `x\u200b`}, `unknown help topic "x\\u200b"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, errOut, code := runCLI(t, []string{"SESSIOND_DATA=" + t.TempDir()}, tc.args...)
			if code != 2 || !strings.Contains(errOut, tc.want) {
				t.Errorf("sessiond %q = exit %d, stderr %q; want exit 2 with %s", tc.args, code, errOut, tc.want)
			}
		})
	}
}

// TestCLI_APIKeyCreateNameShown: the name `apikey create` repeats is
// shown as `apikey list` shows it: quoted when a space at its end would
// not show, as it is otherwise (backslashes included).
func TestCLI_APIKeyCreateNameShown(t *testing.T) {
	env := []string{"SESSIOND_DATA=" + t.TempDir()}
	if _, errOut, code := runCLI(t, env, "keys", "list", "--create"); code != 0 {
		t.Fatalf("keys list --create = exit %d, %q", code, errOut)
	}
	for _, tc := range []struct{ name, want string }{
		{"ci ", `("ci ", scopes`},
		{`ci\u200b`, `(ci\u200b, scopes`},
	} {
		_, errOut, code := runCLI(t, env, "apikey", "create", "--name", tc.name)
		if code != 0 || !strings.Contains(errOut, tc.want) {
			t.Errorf("apikey create --name %q = exit %d, stderr %q; want %s", tc.name, code, errOut, tc.want)
		}
	}
}
