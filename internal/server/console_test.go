package server_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/sessiond/sessiond/internal/server"
	"github.com/sessiond/sessiond/internal/testenv"
)

// TestRun_Console: the console answers on the API port without an admin
// listener, only on the admin listener with one, and nowhere when
// console.enabled is off; the bootstrap key (admin scope) signs in.
func TestRun_Console(t *testing.T) {
	t.Run("api port", func(t *testing.T) {
		n := start(t, server.Options{Config: devConfig(t)})
		base := "http://" + n.addr
		if got, body := get(t, "GET", base+"/console/signin"); got != http.StatusOK || !strings.Contains(body, "API key") {
			t.Errorf("GET /console/signin = %d", got)
		}
		if got, _ := get(t, "GET", base+"/healthz"); got != http.StatusOK {
			t.Errorf("the API behind the console: /healthz = %d", got)
		}
		c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		req, _ := http.NewRequest("POST", base+"/console/signin", strings.NewReader(url.Values{"api_key": {string(testKey)}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Sec-Fetch-Site", "same-origin")
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Set-Cookie"), "__Host-sessiond-console=") {
			t.Errorf("sign-in with the bootstrap key: %d %q", resp.StatusCode, resp.Header.Get("Set-Cookie"))
		}
	})
	t.Run("admin listener", func(t *testing.T) {
		cfg := devConfig(t)
		cfg.Server.AdminListen = "127.0.0.1:0"
		admin := make(chan string, 1)
		n := start(t, server.Options{Config: cfg, AdminListening: func(a string) { admin <- a }})
		adminURL, apiURL := "http://"+<-admin, "http://"+n.addr
		if got, _ := get(t, "GET", adminURL+"/console/signin"); got != http.StatusOK {
			t.Errorf("admin /console/signin = %d", got)
		}
		if got, _ := get(t, "GET", apiURL+"/console/signin"); got != http.StatusNotFound {
			t.Errorf("API port /console/signin = %d; want 404 with an admin listener", got)
		}
	})
	t.Run("disabled", func(t *testing.T) {
		cfg := devConfig(t)
		cfg.Console.Enabled = false
		n := start(t, server.Options{Config: cfg})
		if got, _ := get(t, "GET", "http://"+n.addr+"/console/signin"); got != http.StatusNotFound {
			t.Errorf("disabled console: %d", got)
		}
	})
}

// postForm posts v to url as a form from a page of site (Sec-Fetch-Site)
// and returns the status; c keeps the console's cookie.
func postForm(t *testing.T, c *http.Client, url string, v url.Values, site string) int {
	t.Helper()
	req, _ := http.NewRequest("POST", url, strings.NewReader(v.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Sec-Fetch-Site", site)
	if site == "cross-site" {
		req.Header.Set("Origin", "https://evil.example")
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// loggedEvent is an event as GET /v1/events answers it.
type loggedEvent struct {
	Type    string            `json:"type"`
	Client  map[string]string `json:"client"`
	Details map[string]any    `json:"details"`
}

// eventsOf returns the events GET /v1/events?query answers.
func eventsOf(t *testing.T, base, query string) []loggedEvent {
	t.Helper()
	var page struct {
		Events []loggedEvent `json:"events"`
	}
	if code := testenv.CallAPI(t, http.MethodGet, base+"/v1/events?"+query, string(testKey), "", &page); code != http.StatusOK {
		t.Fatalf("GET /v1/events?%s = %d", query, code)
	}
	return page.Events
}

// TestRun_ConsoleActsAsItsKey: what an operator does in the console is
// recorded, like an API call, with the key the console was signed in with.
func TestRun_ConsoleActsAsItsKey(t *testing.T) {
	n := start(t, server.Options{Config: devConfig(t)})
	base := "http://" + n.addr
	if code := testenv.CallAPI(t, http.MethodPost, base+"/v1/sessions", string(testKey), `{"subject":"alice"}`, nil); code != http.StatusCreated {
		t.Fatalf("create: %d", code)
	}
	c, _ := testenv.CookieClient(nil)
	if code := postForm(t, c, base+"/console/signin", url.Values{"api_key": {string(testKey)}}, "same-origin"); code != http.StatusSeeOther {
		t.Fatalf("console sign-in: %d", code)
	}
	if code := postForm(t, c, base+"/console/sessions/revoke-all", url.Values{"subject": {"alice"}, "confirm": {"yes"}}, "same-origin"); code != http.StatusSeeOther {
		t.Fatalf("console revoke-all: %d", code)
	}
	keyOf := map[string]any{}
	for _, e := range eventsOf(t, base, "subject=alice") {
		keyOf[e.Type] = e.Details["api_key_id"]
	}
	if created := keyOf["session.created"]; created == nil || keyOf["session.revoked"] != created {
		t.Errorf("acting keys by event: %v; want the console's revocation to name the key that created the session (%v)", keyOf, created)
	}

	// A key made in the console is recorded as one made through the API is.
	if code := postForm(t, c, base+"/console/keys/create", url.Values{"name": {"ci"}, "scope": {"verify", "sessions:read"}}, "same-origin"); code != http.StatusOK && code != http.StatusSeeOther {
		t.Fatalf("console create key: %d", code)
	}
	if evs := eventsOf(t, base, "type=api_key.created"); len(evs) != 1 || evs[0].Details["name"] != "ci" ||
		evs[0].Details["scopes"] != "verify,sessions:read" || evs[0].Details["api_key_id"] == nil {
		t.Errorf("api_key.created events: %+v; want one naming the key, its scopes and the acting key", evs)
	}
}

// TestRun_ConsoleCSRFRecorded: a cross-site request to the console is
// refused and lands in the deployment's event log as request.csrf_rejected.
func TestRun_ConsoleCSRFRecorded(t *testing.T) {
	n := start(t, server.Options{Config: devConfig(t)})
	base := "http://" + n.addr
	if code := postForm(t, http.DefaultClient, base+"/console/keys/create", url.Values{"name": {"evil"}, "scope": {"admin"}}, "cross-site"); code != http.StatusForbidden {
		t.Fatalf("cross-site POST to the console = %d; want 403", code)
	}
	if evs := eventsOf(t, base, "type=request.csrf_rejected"); len(evs) != 1 || evs[0].Details["path"] != "/console/keys/create" {
		t.Errorf("request.csrf_rejected events: %+v; want one for /console/keys/create", evs)
	}
}

// TestRun_ConsoleSignInFailureRecorded: a refused console sign-in is
// recorded as api_key.auth_failed, as a refused API key is.
func TestRun_ConsoleSignInFailureRecorded(t *testing.T) {
	n := start(t, server.Options{Config: devConfig(t)})
	base := "http://" + n.addr
	if code := postForm(t, http.DefaultClient, base+"/console/signin", url.Values{"api_key": {"sdak_not_a_key"}}, "same-origin"); code != http.StatusUnauthorized {
		t.Fatalf("console sign-in with a wrong key = %d; want 401", code)
	}
	if evs := eventsOf(t, base, "type=api_key.auth_failed"); len(evs) != 1 || evs[0].Details["path"] != "/console/signin" || evs[0].Client["ip"] == "" {
		t.Errorf("api_key.auth_failed events: %+v; want one for /console/signin with the peer's address", evs)
	}
}

// TestRun_ConsoleSignInRecorded: a console sign-in and a sign-out land in
// the deployment's durable event log (ASVS 16.3.1), naming the key by its
// ID, with the peer's address, and never holding the key.
func TestRun_ConsoleSignInRecorded(t *testing.T) {
	n := start(t, server.Options{Config: devConfig(t)})
	base := "http://" + n.addr
	c, _ := testenv.CookieClient(nil)
	if code := postForm(t, c, base+"/console/signin", url.Values{"api_key": {string(testKey)}}, "same-origin"); code != http.StatusSeeOther {
		t.Fatalf("console sign-in: %d", code)
	}
	if code := postForm(t, c, base+"/console/signout", url.Values{}, "same-origin"); code != http.StatusSeeOther {
		t.Fatalf("console sign-out: %d", code)
	}
	var list struct {
		Keys []struct {
			ID string `json:"id"`
		} `json:"keys"`
	}
	if code := testenv.CallAPI(t, http.MethodGet, base+"/v1/api-keys", string(testKey), "", &list); code != http.StatusOK || len(list.Keys) != 1 {
		t.Fatalf("GET /v1/api-keys = %d, %d keys; want the bootstrap key alone", code, len(list.Keys))
	}
	for _, typ := range []string{"console.signed_in", "console.signed_out"} {
		evs := eventsOf(t, base, "type="+typ)
		if len(evs) != 1 {
			t.Errorf("%s events: %+v; want one", typ, evs)
			continue
		}
		if evs[0].Details["key_id"] != list.Keys[0].ID || evs[0].Client["ip"] == "" {
			t.Errorf("%s: %+v; want the key's ID (%s) and the peer's address", typ, evs[0], list.Keys[0].ID)
		}
		for k, v := range evs[0].Details {
			if s, ok := v.(string); ok && s == string(testKey) {
				t.Errorf("%s: details.%s holds the API key", typ, k)
			}
		}
	}
}
