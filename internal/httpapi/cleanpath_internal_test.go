package httpapi

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
)

// TestCleanPath_Shortcut: alreadyClean(p) holds exactly when the full
// cleaning returns p unchanged, so the shortcut changes no answer.
func TestCleanPath_Shortcut(t *testing.T) {
	for _, p := range cleanPathSamples() {
		want := cleanPathFull(p)
		if got := alreadyClean(p); got != (want == p) {
			t.Errorf("alreadyClean(%q) = %v; the full cleaning gives %q", p, got, want)
		}
		if got := CleanPath(p); got != want {
			t.Errorf("CleanPath(%q) = %q; want %q", p, got, want)
		}
	}
}

func cleanPathSamples() []string {
	return []string{"", "/", "//", "///", ".", "..", "/.", "/..", "./", "a", "a/", "/a", "/a/", "/a//", "//a",
		"/a/.", "/a/..", "/a/./", "/a/../", "/./a", "/../a", "/a/.b", "/a/..b", "/a/b..", "/a/.../", "/.a", "/..a/",
		"/v1/sessions/verify", "/v1/subjects/bob%20smith/sessions", "/v1/sessions/a%2F..%2Fb", "/x/%2E%2e/", "/a/b/c/", "/é/ü"}
}

// FuzzCleanPath: for any path the shortcut and the full cleaning agree,
// and CleanPath changes a rooted request path exactly when net/http's
// ServeMux redirects it (server.canonical relies on that; cleanPathFull is
// our own copy, the mux is the contract).
func FuzzCleanPath(f *testing.F) {
	for _, p := range cleanPathSamples() {
		f.Add(p)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(http.ResponseWriter, *http.Request) {})
	f.Fuzz(func(t *testing.T, p string) {
		want := cleanPathFull(p)
		if got := alreadyClean(p); got != (want == p) {
			t.Errorf("alreadyClean(%q) = %v; the full cleaning gives %q", p, got, want)
		}
		u, err := url.Parse(p)
		if err != nil || p == "" || p[0] != '/' || u.Scheme != "" || u.Host != "" || u.RawQuery != "" || u.Fragment != "" || u.EscapedPath() != p {
			return
		}
		r := &http.Request{Method: http.MethodGet, URL: u, Host: "example.com", Header: http.Header{}}
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, r)
		if redirected := rec.Code/100 == 3; redirected != (CleanPath(p) != p) {
			t.Errorf("CleanPath(%q) = %q, yet ServeMux answers %d", p, CleanPath(p), rec.Code)
		}
	})
}
