package console_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// TestConsole_APIKeyName: the console refuses the key names the CLI and
// the API refuse (apikey.CheckName), format characters included, and
// says it is the name: "check its name and scopes" left the operator to
// guess at an invisible U+200B. Nothing is created.
func TestConsole_APIKeyName(t *testing.T) {
	f := newFixture(t)
	c := f.signedIn()
	const nameRefused = "A key needs a name of 1 to 64 bytes of printable text"
	for _, tc := range []struct{ name, keyName string }{
		{"empty", ""},
		{"control character", "a\x1bb"},
		{"zero-width space", "ci\u200b"},
		{"right-to-left override", "ci\u202egnp.exe"},
		{"byte order mark", "\ufeffci"},
		{"line separator", "ci\u2028deploy"},
		{"65 bytes", strings.Repeat("n", 65)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := f.do(c, "POST", "/console/keys/create", url.Values{"name": {tc.keyName}, "scope": {"verify"}}, "same-origin")
			if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, nameRefused) {
				t.Errorf("create named %q: %d, name refusal shown %v; want 400 and %q", tc.keyName, resp.StatusCode, strings.Contains(body, nameRefused), nameRefused)
			}
		})
	}
	if list, _ := f.keys.List(t.Context()); len(list) != 2 {
		t.Fatalf("refused names created keys: %d keys", len(list))
	}
	// Spaces around a name are trimmed, as before; a name inside them is
	// taken.
	if resp, _ := f.do(c, "POST", "/console/keys/create", url.Values{"name": {" ci deploy "}, "scope": {"verify"}}, "same-origin"); resp.StatusCode != http.StatusOK {
		t.Errorf("create named \" ci deploy \": %d; want 200", resp.StatusCode)
	}
}
