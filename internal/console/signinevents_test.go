package console_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/internal/console"
)

// recorded collects the events the console hands to Options.Record.
type recorded struct {
	mu     sync.Mutex
	events []sessiond.Event
}

func (r *recorded) record(_ context.Context, e sessiond.Event) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, e)
	return nil
}

// take returns the events recorded since the last take.
func (r *recorded) take() []sessiond.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	evs := r.events
	r.events = nil
	return evs
}

// TestConsole_SignInEvents: every console sign-in, refused or not, and
// every sign-out goes to the event log (ASVS 16.3.1) with the API key's
// ID, never the key, and the client's address and User-Agent bounded as
// the log bounds a client that has not authenticated.
func TestConsole_SignInEvents(t *testing.T) {
	// A bidirectional override (Go's client sends no control character)
	// and far more than 256 bytes.
	longUA := "<script>alert(1)</script>\u202e Mozilla/5.0 " + strings.Repeat("a", 1000)
	for _, tc := range []struct {
		name     string
		key      func(f *fixture) string
		signOut  bool
		wantType sessiond.EventType
		wantKey  func(f *fixture) string // details.key_id; "" for none
	}{
		{"signed in", func(f *fixture) string { return string(f.admin) }, false,
			sessiond.EventConsoleSignedIn, func(f *fixture) string { return f.adminK.ID }},
		{"signed out", func(f *fixture) string { return string(f.admin) }, true,
			sessiond.EventConsoleSignedOut, func(f *fixture) string { return f.adminK.ID }},
		{"unknown key", func(*fixture) string { return "sdak_not_a_key" }, false,
			"api_key.auth_failed", func(*fixture) string { return "" }},
		{"tampered admin key", func(f *fixture) string { return string(f.admin) + "x" }, false,
			"api_key.auth_failed", func(*fixture) string { return "" }},
		{"key without the admin scope", func(f *fixture) string { return string(f.verify) }, false,
			"api_key.auth_failed", func(f *fixture) string {
				list, _ := f.keys.List(f.t.Context())
				for _, k := range list {
					if k.Name == "backend" {
						return k.ID
					}
				}
				return "?"
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var rec recorded
			f := newFixtureWith(t, func(_ *fixture, o *console.Options) { o.Record = rec.record })
			c := f.browser()
			key := tc.key(f)
			req, _ := http.NewRequestWithContext(t.Context(), "POST", f.srv.URL+"/console/signin",
				strings.NewReader(url.Values{"api_key": {key}}.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.Header.Set("Sec-Fetch-Site", "same-origin")
			req.Header.Set("User-Agent", longUA)
			resp, err := c.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if tc.signOut {
				if resp.StatusCode != http.StatusSeeOther {
					t.Fatalf("sign in: %d", resp.StatusCode)
				}
				rec.take()
				req, _ := http.NewRequestWithContext(t.Context(), "POST", f.srv.URL+"/console/signout", nil)
				req.Header.Set("Sec-Fetch-Site", "same-origin")
				req.Header.Set("User-Agent", longUA)
				resp, err := c.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/console/signin" {
					t.Fatalf("sign out: %d %s", resp.StatusCode, resp.Header.Get("Location"))
				}
			}
			evs := rec.take()
			if len(evs) != 1 || evs[0].Type != tc.wantType {
				t.Fatalf("recorded %+v; want one %s", evs, tc.wantType)
			}
			e := evs[0]
			if got, want := e.Details["key_id"], tc.wantKey(f); want == "" && got != nil || want != "" && got != want {
				t.Errorf("details.key_id = %v; want %q", got, want)
			}
			if e.Details["via"] != "console" {
				t.Errorf("details.via = %v; want console", e.Details["via"])
			}
			if e.Type == sessiond.EventConsoleSignedIn && e.Details["method"] != "api_key" {
				t.Errorf("details.method = %v; want api_key", e.Details["method"])
			}
			if e.Client.IP != "127.0.0.1" || len(e.Client.UserAgent) > 256 || !strings.HasPrefix(e.Client.UserAgent, "<script>") ||
				strings.Contains(e.Client.UserAgent, "\u202e") {
				t.Errorf("client %+v; want the peer's address and its User-Agent cut to 256 bytes, control characters replaced", e.Client)
			}
			b, _ := json.Marshal(e)
			if strings.Contains(string(b), key) {
				t.Errorf("the event holds the API key: %s", b)
			}
		})
	}
}
