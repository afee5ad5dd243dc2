package console_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/internal/console"
)

// TestConsole_SessionBoundToBrowser: a console cookie works only from the
// browser and OS family it signed in from. Presented by another (a cookie
// copied into a script or another browser), it is refused and its console
// session ends, for its owner too, and the event log says so; a browser
// update (another version) changes nothing.
func TestConsole_SessionBoundToBrowser(t *testing.T) {
	const chrome = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"
	for _, tc := range []struct {
		name  string
		then  string // the User-Agent the cookie comes back with
		keeps bool
	}{
		{"the same browser", chrome, true},
		{"the browser updated", strings.Replace(chrome, "Chrome/131.0.0.0", "Chrome/132.0.0.0", 1), true},
		{"another browser", "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0", false},
		{"another OS", "Mozilla/5.0 (Linux; Android 14) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36", false},
		{"a script", "curl/8.5.0", false},
		{"no User-Agent", "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var rec recorded
			f := newFixtureWith(t, func(_ *fixture, o *console.Options) { o.Record = rec.record })
			c := f.browser()
			get := func(ua string) *http.Response {
				t.Helper()
				req, _ := http.NewRequestWithContext(t.Context(), "GET", f.srv.URL+"/console/overview", nil)
				req.Header.Set("User-Agent", ua) // "": Go sends none
				resp, err := c.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				return resp
			}
			req, _ := http.NewRequestWithContext(t.Context(), "POST", f.srv.URL+"/console/signin",
				strings.NewReader(url.Values{"api_key": {string(f.admin)}}.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.Header.Set("Sec-Fetch-Site", "same-origin")
			req.Header.Set("User-Agent", chrome)
			resp, err := c.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusSeeOther {
				t.Fatalf("sign in: %d", resp.StatusCode)
			}
			rec.take()
			resp = get(tc.then)
			if kept := resp.StatusCode == http.StatusOK; kept != tc.keeps {
				t.Fatalf("the cookie from %q: %d %s; want it accepted %v", tc.then, resp.StatusCode, resp.Header.Get("Location"), tc.keeps)
			}
			if tc.keeps {
				if evs := rec.take(); len(evs) != 0 {
					t.Errorf("events recorded for a kept session: %+v", evs)
				}
				return
			}
			if resp.Header.Get("Location") != "/console/signin" {
				t.Errorf("refused to %q; want /console/signin", resp.Header.Get("Location"))
			}
			if resp := get(chrome); resp.StatusCode != http.StatusSeeOther {
				t.Errorf("after the cookie came from another browser, its owner's browser still gets %d; want the console session ended", resp.StatusCode)
			}
			evs := rec.take()
			if len(evs) != 1 || evs[0].Type != sessiond.EventAnomaly || evs[0].Details["rule"] != "user_agent_change" ||
				evs[0].Details["action"] != "revoke" || evs[0].Details["via"] != "console" || evs[0].Details["key_id"] != f.adminK.ID ||
				evs[0].Subject != "" || evs[0].SessionID != "" {
				t.Errorf("recorded %+v; want one session.anomaly (user_agent_change, revoke) via the console naming the key, with no application subject or session", evs)
			}
		})
	}
}
