package server

import (
	"net/http"
	"path"
	"strings"
)

// canonical routes through mux only requests whose path is canonical; one
// that ServeMux would clean (a "//", a dot segment) goes to api, whose
// own mux answers the redirect inside its middleware: security headers,
// Cache-Control, request ID, request log line. mux, a bare ServeMux that
// routes between the API and the console (or the admin listener's few
// routes), would answer it alone with a plain text/html 307 carrying none
// of them.
func canonical(mux, api http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// ServeMux leaves CONNECT's path as it is, and cleans the escaped
		// path, not Path: to it a "%2F" or "%2E" in a segment is no
		// slash and no dot segment, and the route it picks (the
		// console's) must still get the request. EscapedPath allocates
		// only for a path that needs escaping.
		if p := r.URL.EscapedPath(); r.Method != http.MethodConnect && cleanPath(p) != p {
			api.ServeHTTP(w, r)
			return
		}
		mux.ServeHTTP(w, r)
	})
}

// cleanPath is net/http's (unexported) canonical form of a request path,
// the one ServeMux redirects to: rooted, dot segments and repeated
// slashes removed, a trailing slash kept.
func cleanPath(p string) string {
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
