package console_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/sessiond/sessiond/internal/apikey"
	"github.com/sessiond/sessiond/internal/console"
)

// TestConsole_SensitiveActionsNeedRecentSignIn: minting, revoking or
// rotating keys and the kill switch need a sign-in within
// console.DefaultRecentAuth, however busy the console session has been
// since: a stolen console cookie cannot become a lasting admin API key or
// a mass revocation. The operator is sent to sign in again, with a
// message saying why, and may act once signed in again.
func TestConsole_SensitiveActionsNeedRecentSignIn(t *testing.T) {
	f := newFixture(t)
	c := f.signedIn()
	_, other, err := f.keys.Create(t.Context(), "other", apikey.ScopeVerify)
	if err != nil {
		t.Fatal(err)
	}
	// Two hours of use: a request every ten minutes keeps the session alive.
	for range 12 {
		f.clock.Advance(10 * time.Minute)
		if resp, _ := f.do(c, "GET", "/console/overview", nil, "same-origin"); resp.StatusCode != http.StatusOK {
			t.Fatalf("console session ended while in use: %d", resp.StatusCode)
		}
	}
	if console.DefaultRecentAuth >= 2*time.Hour {
		t.Fatalf("DefaultRecentAuth %v", console.DefaultRecentAuth)
	}
	alice := f.create("alice", "a")
	before, _ := f.keys.List(t.Context())
	actions := []struct {
		path string
		form url.Values
	}{
		{"/console/keys/create", url.Values{"name": {"backdoor"}, "scope": {"admin"}}},
		{"/console/keys/revoke", url.Values{"id": {other.ID}, "confirm": {console.Confirmation}}}, // confirmed, and still refused
		{"/console/keys/rotate", url.Values{}},
		{"/console/incident", url.Values{"scope": {"subjects"}, "subjects": {"alice"}, "reason": {"x"}, "confirm": {"REVOKE"}}},
	}
	for _, a := range actions {
		resp, body := f.do(c, "POST", a.path, a.form, "same-origin")
		if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/console/signin?reauth=1" || strings.Contains(body, `id="created"`) {
			t.Errorf("POST %s two hours after sign-in: %d %q; want 303 to /console/signin?reauth=1", a.path, resp.StatusCode, resp.Header.Get("Location"))
		}
	}
	after, _ := f.keys.List(t.Context())
	if len(after) != len(before) || len(f.incidents) != 0 || !f.live(alice) {
		t.Errorf("refused actions acted: keys %d then %d, kill switch runs %d, alice live %v", len(before), len(after), len(f.incidents), f.live(alice))
	}
	for _, k := range after {
		if k.ID == other.ID && !k.RevokedAt.IsZero() {
			t.Error("a refused revoke revoked the key")
		}
	}
	if _, body := f.do(c, "GET", "/console/signin?reauth=1", nil, "same-origin"); !strings.Contains(body, "need a sign-in within the last 15 minutes") {
		t.Errorf("the sign-in page does not say why: %q", between(body, `class="notice"`, "</p>"))
	}
	// Signed in again, the operator may act.
	f.signIn(c)
	if resp, body := f.do(c, "POST", "/console/keys/create", url.Values{"name": {"ci"}, "scope": {"verify"}}, "same-origin"); resp.StatusCode != http.StatusOK || !strings.Contains(body, `id="created"`) {
		t.Errorf("create after signing in again: %d", resp.StatusCode)
	}
}
