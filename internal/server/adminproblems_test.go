package server_test

import (
	"encoding/json"
	"io"
	"net/http"
	"testing"

	"github.com/sessiond/sessiond/internal/server"
)

// TestRun_AdminListenerProblems: what the admin listener routes nowhere is
// answered as the API port answers it: 404, or 405 with Allow, as a
// problem document with the API's security headers and a request ID, not
// ServeMux's plain text.
func TestRun_AdminListenerProblems(t *testing.T) {
	cfg := devConfig(t)
	cfg.Server.AdminListen = "127.0.0.1:0"
	admin := make(chan string, 1)
	n := start(t, server.Options{Config: cfg, AdminListening: func(a string) { admin <- a }})
	adminURL, apiURL := "http://"+<-admin, "http://"+n.addr

	for _, tc := range []struct {
		name        string
		method      string
		admin, api  string // the same kind of miss on each listener
		status      int
		code, allow string
	}{
		{"no such route", http.MethodGet, "/nowhere", "/nowhere", http.StatusNotFound, "not_found", ""},
		{"an API route", http.MethodGet, "/v1/sessions", "/nowhere", http.StatusNotFound, "not_found", ""},
		{"method not allowed", http.MethodPost, "/metrics", "/healthz", http.StatusMethodNotAllowed, "invalid_request", "GET, HEAD"},
		{"method not allowed on healthz", http.MethodDelete, "/healthz", "/healthz", http.StatusMethodNotAllowed, "invalid_request", "GET, HEAD"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			want := answerOf(t, tc.method, apiURL+tc.api)
			got := answerOf(t, tc.method, adminURL+tc.admin)
			if want.status != tc.status || want.problem["code"] != tc.code {
				t.Fatalf("control: API port %s %s = %d %v; want %d %s", tc.method, tc.api, want.status, want.problem, tc.status, tc.code)
			}
			if got.status != tc.status {
				t.Errorf("admin %s %s = %d; want %d", tc.method, tc.admin, got.status, tc.status)
			}
			if got.problem == nil || got.problem["code"] != tc.code || got.problem["type"] != want.problem["type"] ||
				got.problem["title"] != want.problem["title"] || got.problem["status"] != want.problem["status"] {
				t.Errorf("admin %s %s body = %s; want a problem like the API port's %v", tc.method, tc.admin, got.body, want.problem)
			}
			if a := got.header.Get("Allow"); a != tc.allow {
				t.Errorf("admin %s %s Allow = %q; want %q", tc.method, tc.admin, a, tc.allow)
			}
			for _, h := range []string{"Content-Type", "X-Content-Type-Options", "Content-Security-Policy", "Cache-Control"} {
				if g, w := got.header.Get(h), want.header.Get(h); g != w || w == "" {
					t.Errorf("admin %s %s %s = %q; want %q as on the API port", tc.method, tc.admin, h, g, w)
				}
			}
			if got.header.Get("X-Request-Id") == "" {
				t.Errorf("admin %s %s has no X-Request-Id", tc.method, tc.admin)
			}
		})
	}
}

type answer struct {
	status  int
	header  http.Header
	body    string
	problem map[string]any
}

func answerOf(t *testing.T, method, url string) answer {
	t.Helper()
	resp := apiRequest(t, method, url, "", "", nil)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	a := answer{status: resp.StatusCode, header: resp.Header, body: string(b)}
	if json.Unmarshal(b, &a.problem) != nil {
		a.problem = nil
	}
	return a
}
