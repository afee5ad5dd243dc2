package httpapi_test

import (
	"bufio"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/internal/httpapi"
)

// TestAPI_CleanPathRedirectLocation: a path with "//" or a dot segment is
// redirected to its clean form spelled as the client spelled it, with its
// query. ServeMux's own redirect escapes the escaped path a second time
// ("%2F" became "%252F", "%20" "%2520"): a client following it, a POST
// kept by the 307 among them, reached another resource (another subject,
// another session ID) than the one it named.
func TestAPI_CleanPathRedirectLocation(t *testing.T) {
	e := newEnv(t, sessiond.StrategyHybrid, nil)
	admin := httpapi.Fallback(e.handler, map[string][]string{"/healthz": {http.MethodGet}})
	for _, tc := range []struct{ line, want string }{
		{"GET //healthz HTTP/1.1", "/healthz"},
		{"GET //healthz?probe=1&x=%2F HTTP/1.1", "/healthz?probe=1&x=%2F"},
		{"GET /v1//sessions/a%2Fb HTTP/1.1", "/v1/sessions/a%2Fb"},
		{"GET /v1/subjects//bob%20smith/sessions?limit=5 HTTP/1.1", "/v1/subjects/bob%20smith/sessions?limit=5"},
		{"POST /v1/subjects/./a%2Fb/revoke HTTP/1.1", "/v1/subjects/a%2Fb/revoke"},
		{"GET /x/%2E%2e/../healthz HTTP/1.1", "/x/healthz"},
		{"GET /v1/sessions/%c3%a9//x HTTP/1.1", "/v1/sessions/%c3%a9/x"},
	} {
		for name, h := range map[string]http.Handler{"api": e.handler, "admin fallback": admin} {
			req, err := http.ReadRequest(bufio.NewReader(strings.NewReader(tc.line + "\r\nHost: example.com\r\n\r\n")))
			if err != nil {
				t.Fatal(err)
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if got := rec.Header().Get("Location"); rec.Code != http.StatusTemporaryRedirect || got != tc.want {
				t.Errorf("%s: %s = %d, Location %q; want 307, Location %q", name, tc.line, rec.Code, got, tc.want)
			}
			if rec.Header().Get("X-Request-Id") == "" || rec.Header().Get("X-Content-Type-Options") != "nosniff" {
				t.Errorf("%s: %s: redirect without the API's headers: %v", name, tc.line, rec.Header())
			}
		}
	}
	// Clean paths, "*" and CONNECT are not redirected.
	for _, line := range []string{"GET /healthz HTTP/1.1", "GET /v1/sessions/a%2F..%2Fb HTTP/1.1", "OPTIONS * HTTP/1.1", "CONNECT example.com:443 HTTP/1.1"} {
		req, err := http.ReadRequest(bufio.NewReader(strings.NewReader(line + "\r\nHost: example.com\r\n\r\n")))
		if err != nil {
			t.Fatal(err)
		}
		rec := httptest.NewRecorder()
		e.handler.ServeHTTP(rec, req)
		if rec.Code/100 == 3 {
			t.Errorf("%s = %d, Location %q; want no redirect", line, rec.Code, rec.Header().Get("Location"))
		}
	}
}
