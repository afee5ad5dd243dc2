package httpapi

import (
	"path"
	"strings"
	"testing"
)

// cleanPathSlow is CleanPath without its shortcut for clean paths.
func cleanPathSlow(p string) string {
	if p == "" {
		return "/"
	}
	if p[0] != '/' {
		p = "/" + p
	}
	np := path.Clean(p)
	if p[len(p)-1] == '/' && np != "/" {
		if len(p) == len(np)+1 && strings.HasPrefix(p, np) {
			return p
		}
		np += "/"
	}
	return np
}

// TestCleanPath_Shortcut: alreadyClean(p) holds exactly when the full
// cleaning returns p unchanged, so the shortcut changes no answer.
func TestCleanPath_Shortcut(t *testing.T) {
	for _, p := range cleanPathSamples() {
		want := cleanPathSlow(p)
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

// FuzzCleanPath: for any path the shortcut and the full cleaning agree.
func FuzzCleanPath(f *testing.F) {
	for _, p := range cleanPathSamples() {
		f.Add(p)
	}
	f.Fuzz(func(t *testing.T, p string) {
		want := cleanPathSlow(p)
		if got := alreadyClean(p); got != (want == p) {
			t.Errorf("alreadyClean(%q) = %v; the full cleaning gives %q", p, got, want)
		}
	})
}
