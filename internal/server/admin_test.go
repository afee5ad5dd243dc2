package server_test

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/sessiond/sessiond/internal/server"
)

func get(t *testing.T, method, url string) (int, string) {
	t.Helper()
	resp := apiRequest(t, method, url, string(testKey), "", nil)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestRun_AdminListener: with server.admin_listen, /metrics moves to the
// admin listener (404 on the API port), /healthz and /readyz answer on
// both, and the admin listener routes nothing else.
func TestRun_AdminListener(t *testing.T) {
	cfg := devConfig(t)
	cfg.Server.AdminListen = "127.0.0.1:0"
	admin := make(chan string, 1)
	n := start(t, server.Options{Config: cfg, AdminListening: func(a string) { admin <- a }})
	adminURL, apiURL := "http://"+<-admin, "http://"+n.addr

	for _, tc := range []struct {
		method, url string
		want        int
		body        string
	}{
		{"GET", apiURL + "/metrics", http.StatusNotFound, ""},
		{"GET", adminURL + "/metrics", http.StatusOK, "sessiond_"},
		{"GET", adminURL + "/healthz", http.StatusOK, ""},
		{"GET", adminURL + "/readyz", http.StatusOK, ""},
		{"GET", apiURL + "/healthz", http.StatusOK, ""},
		{"GET", apiURL + "/readyz", http.StatusOK, ""},
		{"GET", adminURL + "/v1/sessions", http.StatusNotFound, ""},
		{"GET", adminURL + "/.well-known/jwks.json", http.StatusNotFound, ""},
		{"POST", adminURL + "/metrics", http.StatusMethodNotAllowed, ""},
		{"GET", adminURL + "/metrics/../v1/sessions", http.StatusNotFound, ""},
	} {
		got, body := get(t, tc.method, tc.url)
		if got != tc.want || !strings.Contains(body, tc.body) {
			t.Errorf("%s %s = %d (%.60q); want %d with %q", tc.method, tc.url, got, body, tc.want, tc.body)
		}
	}
}

// TestRun_MetricsOnAPIPortWithoutAdmin: without server.admin_listen the
// API port keeps serving /metrics, as before.
func TestRun_MetricsOnAPIPortWithoutAdmin(t *testing.T) {
	n := start(t, server.Options{Config: devConfig(t)})
	if got, body := get(t, "GET", "http://"+n.addr+"/metrics"); got != http.StatusOK || !strings.Contains(body, "sessiond_") {
		t.Errorf("GET /metrics = %d; want 200 with metrics", got)
	}
}
