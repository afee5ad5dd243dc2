package main

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

// healthcheck exits 0 only when the server itself answers /readyz with 200:
// a redirect (a proxy's login page, a catch-all, another service) is not
// ready, whatever it points at answers.
func TestHealthcheck_RedirectIsNotReady(t *testing.T) {
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusOK) // some other service, not sessiond
	}))
	defer other.Close()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, other.URL+"/login", http.StatusFound)
	}))
	defer srv.Close()
	out, errOut, code := runInProcess(nil, "healthcheck", "--url", srv.URL)
	if code != exitFailure {
		t.Errorf("healthcheck against a /readyz that answers 302 = exit %d, %q %q; want 1 (not ready)", code, out, errOut)
	}
}
