package console_test

import (
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/internal/apikey"
	"github.com/sessiond/sessiond/internal/console"
)

func TestConsole_APIKeys(t *testing.T) {
	f := newFixture(t)
	c := f.signedIn()
	if resp, body := f.do(c, "GET", "/console/keys", nil, "same-origin"); resp.StatusCode != http.StatusOK || !strings.Contains(body, f.adminK.ID) || !strings.Contains(body, "no signing keys") {
		t.Fatalf("keys page: %d", resp.StatusCode)
	}
	for _, tc := range []struct {
		name string
		form url.Values
	}{
		{"no name", url.Values{"scope": {"verify"}}},
		{"control characters in the name", url.Values{"name": {"a\x1bb"}, "scope": {"verify"}}},
		{"long name", url.Values{"name": {strings.Repeat("n", 65)}, "scope": {"verify"}}},
		{"no scope", url.Values{"name": {"x"}}},
		{"unknown scope", url.Values{"name": {"x"}, "scope": {"root"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if resp, _ := f.do(c, "POST", "/console/keys/create", tc.form, "same-origin"); resp.StatusCode != http.StatusBadRequest {
				t.Errorf("status %d", resp.StatusCode)
			}
		})
	}
	if resp, _ := f.do(c, "POST", "/console/keys/create", url.Values{"name": {"evil"}, "scope": {"admin"}}, "cross-site"); resp.StatusCode != http.StatusForbidden {
		t.Errorf("cross-site create: %d", resp.StatusCode)
	}
	if list, _ := f.keys.List(t.Context()); len(list) != 2 {
		t.Fatalf("refused forms created keys: %d keys", len(list))
	}

	resp, body := f.do(c, "POST", "/console/keys/create", url.Values{"name": {"reporting"}, "scope": {"events:read", "sessions:read"}}, "same-origin")
	secret := regexp.MustCompile(`id="created" readonly value="([^"]+)"`).FindStringSubmatch(body)
	if resp.StatusCode != http.StatusOK || secret == nil || resp.Header.Get("Cache-Control") != "no-store" {
		t.Fatalf("create: %d\n%s", resp.StatusCode, body)
	}
	k, err := f.keys.Authenticate(t.Context(), sessiond.Secret(secret[1]))
	if err != nil || k.Name != "reporting" || !k.Allows(apikey.ScopeEventsRead) || k.Allows(apikey.ScopeAdmin) {
		t.Fatalf("the shown key: %+v %v", k, err)
	}
	if _, body := f.do(c, "GET", "/console/keys", nil, "same-origin"); strings.Contains(body, secret[1]) || !strings.Contains(body, k.ID) {
		t.Error("the key's secret is shown again, or the key is not listed")
	}

	for _, bad := range []url.Values{{}, {"id": {"key_unknown"}}} {
		if resp, _ := f.do(c, "POST", "/console/keys/revoke", bad, "same-origin"); resp.StatusCode != http.StatusBadRequest && resp.StatusCode != http.StatusNotFound {
			t.Errorf("revoke %v: %d", bad, resp.StatusCode)
		}
	}
	resp, body = f.do(c, "POST", "/console/keys/revoke", url.Values{"id": {k.ID}, "confirm": {console.Confirmation}}, "same-origin")
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, "revoked") {
		t.Errorf("revoke: %d", resp.StatusCode)
	}
	if _, err := f.keys.Authenticate(t.Context(), sessiond.Secret(secret[1])); err == nil {
		t.Error("a revoked key still authenticates")
	}
	// Revoking one's own key ends the console session.
	resp, _ = f.do(c, "POST", "/console/keys/revoke", url.Values{"id": {f.adminK.ID}, "confirm": {console.Confirmation}}, "same-origin")
	if resp.StatusCode != http.StatusSeeOther {
		t.Errorf("revoke own key: %d", resp.StatusCode)
	}
	if resp, _ := f.do(c, "GET", "/console/keys", nil, "same-origin"); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("console session outlived its own revoked key: %d", resp.StatusCode)
	}
}

// TestConsole_KeysActionsStayOnKeysURL: the keys page's actions answer
// with the keys page, and tell htmx (which pushes a boosted form's answer
// under its action) to show /console/keys: their own URLs answer GET
// with 405, which Back or a reload showed.
func TestConsole_KeysActionsStayOnKeysURL(t *testing.T) {
	f := newFixture(t)
	c := f.signedIn()
	_, spare, err := f.keys.Create(t.Context(), "spare", apikey.ScopeVerify)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		path string
		form url.Values
	}{
		{"/console/keys/create", url.Values{"name": {"reporting"}, "scope": {"events:read"}}},
		{"/console/keys/create", url.Values{"name": {""}}}, // refused: still the keys page
		{"/console/keys/revoke", url.Values{"id": {spare.ID}, "confirm": {console.Confirmation}}},
		{"/console/keys/rotate", url.Values{}},
	} {
		resp, body := f.do(c, "POST", tc.path, tc.form, "same-origin")
		if got := resp.Header.Get("HX-Push-Url"); got != "/console/keys" || !strings.Contains(body, "Create an API key") {
			t.Errorf("%s %v: %d, HX-Push-Url %q; want the keys page under /console/keys", tc.path, tc.form, resp.StatusCode, got)
		}
		if resp, _ := f.do(c, "GET", tc.path, nil, "same-origin"); resp.StatusCode != http.StatusMethodNotAllowed {
			t.Errorf("GET %s: %d; want 405 (why the answer is pushed under /console/keys)", tc.path, resp.StatusCode)
		}
	}
}
