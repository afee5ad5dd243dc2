package server_test

import (
	"net/http"
	"testing"

	"github.com/sessiond/sessiond/internal/server"
)

// TestRun_NonCanonicalPathRedirects: a path ServeMux would clean (//, dot
// segments) is redirected with the API's security headers and request
// ID on every listener and whether or not the console is mounted. The
// outer muxes (the console's and the admin listener's) used to answer it
// themselves: a bare text/html 307 without nosniff, Cache-Control or a
// request ID, and without a request log line.
func TestRun_NonCanonicalPathRedirects(t *testing.T) {
	for _, tc := range []struct {
		name    string
		console bool
		admin   bool
	}{
		{"api with console", true, false},
		{"api without console", false, false},
		{"admin listener", true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := devConfig(t)
			cfg.Console.Enabled = tc.console
			admin := make(chan string, 1)
			if tc.admin {
				cfg.Server.AdminListen = "127.0.0.1:0"
			}
			n := start(t, server.Options{Config: cfg, AdminListening: func(a string) { admin <- a }})
			base := "http://" + n.addr
			if tc.admin {
				base = "http://" + <-admin
			}
			client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
			for _, path := range []string{"//healthz", "/x/../healthz", "/./readyz", "/console/../healthz"} {
				resp, err := client.Get(base + path)
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				h := resp.Header
				if resp.StatusCode/100 != 3 || h.Get("X-Content-Type-Options") != "nosniff" ||
					h.Get("Cache-Control") != "no-store" || h.Get("X-Request-Id") == "" {
					t.Errorf("GET %s = %d, Location %q, X-Content-Type-Options %q, Cache-Control %q, X-Request-Id %q; want a redirect with nosniff, no-store and a request ID",
						path, resp.StatusCode, h.Get("Location"), h.Get("X-Content-Type-Options"), h.Get("Cache-Control"), h.Get("X-Request-Id"))
				}
			}
		})
	}
}
