package server_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/sessiond/sessiond/internal/server"
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
