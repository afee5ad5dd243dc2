package server

import (
	"bufio"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/sessiond/sessiond/internal/httpapi"
)

// TestCanonical_AsServeMux: canonical sends to api exactly the requests a
// ServeMux would answer with its clean-path redirect, and no others. A
// ServeMux cleans the escaped path (RawPath when set), not Path: a
// "%2F" or "%2E" in a segment is no slash and no dot segment to it, so
// the console's routes must still get such a request.
func TestCanonical_AsServeMux(t *testing.T) {
	for _, line := range []string{
		"GET / HTTP/1.1",
		"GET /healthz HTTP/1.1",
		"GET /console/ HTTP/1.1",
		"GET /console/static/ HTTP/1.1",
		"GET //healthz HTTP/1.1",
		"GET /x/../healthz HTTP/1.1",
		"GET /./readyz HTTP/1.1",
		"GET /console/../healthz HTTP/1.1",
		"GET /console//events HTTP/1.1",
		"GET /console/events/ HTTP/1.1",
		"GET /console/events// HTTP/1.1",
		"GET /console/events/. HTTP/1.1",
		"GET /console/static/%2E/app.css HTTP/1.1",
		"GET /console/static/x%2F..%2Fapp.css HTTP/1.1",
		"GET /console/a%2F%2Fb HTTP/1.1",
		"GET /console/%2e%2e/healthz HTTP/1.1",
		"GET /v1/sessions/a%2F..%2Fb HTTP/1.1",
		"GET /a%20b/../c HTTP/1.1",
		"GET /a%zz HTTP/1.1",
		"GET * HTTP/1.1",
		"GET http://example.com//healthz HTTP/1.1",
		"CONNECT example.com:443 HTTP/1.1",
		"CONNECT /x/../y HTTP/1.1",
	} {
		req, err := http.ReadRequest(bufio.NewReader(strings.NewReader(line + "\r\nHost: example.com\r\n\r\n")))
		if err != nil {
			continue // net/http would answer 400 before any handler
		}
		// What a ServeMux does: redirect for a clean path or not.
		mux := http.NewServeMux()
		mux.Handle("/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, req)
		redirects := rec.Code == http.StatusTemporaryRedirect || rec.Code == http.StatusMovedPermanently

		if req.RequestURI == "*" {
			// Every ServeMux answers it 400 itself, the API's too: either
			// way is the same answer.
			continue
		}
		diverted := false
		canonical(http.NotFoundHandler(), http.HandlerFunc(func(http.ResponseWriter, *http.Request) { diverted = true })).
			ServeHTTP(httptest.NewRecorder(), req)
		if diverted != redirects {
			t.Errorf("%s: canonical sent it to the API = %v; want %v (a ServeMux redirects it: %v, Location %q)",
				line, diverted, redirects, redirects, rec.Header().Get("Location"))
		}
	}
}

// TestCleanPath_NoAlloc: canonical runs on every request with the console
// on, verify included; a clean path costs no allocation.
func TestCleanPath_NoAlloc(t *testing.T) {
	for _, p := range []string{"/", "/v1/sessions/verify", "/console/", "/console/events/tail"} {
		if n := testing.AllocsPerRun(100, func() {
			if httpapi.CleanPath(p) != p {
				t.Fatalf("CleanPath(%q) changed it", p)
			}
		}); n != 0 {
			t.Errorf("CleanPath(%q): %v allocations; want 0", p, n)
		}
	}
	r := httptest.NewRequest(http.MethodPost, "/v1/sessions/verify", nil)
	h := canonical(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}), http.NotFoundHandler())
	if n := testing.AllocsPerRun(100, func() { h.ServeHTTP(nil, r) }); n != 0 {
		t.Errorf("canonical on a clean path: %v allocations; want 0", n)
	}
}
