package server

import (
	"net/http"

	"github.com/sessiond/sessiond/internal/httpapi"
)

// canonical routes through mux only requests whose path is canonical; one
// that ServeMux would clean (a "//", a dot segment) goes to api, whose
// middleware answers the redirect: security headers, Cache-Control,
// request ID, request log line, and the Location spelled as the request
// spelled its path. mux, a bare ServeMux that routes between the API and
// the console (or the admin listener's few routes), would answer it alone
// with a plain text/html 307 carrying none of them.
func canonical(mux, api http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// ServeMux leaves CONNECT's path as it is, and cleans the escaped
		// path, not Path: to it a "%2F" or "%2E" in a segment is no
		// slash and no dot segment, and the route it picks (the
		// console's) must still get the request. EscapedPath allocates
		// only for a path that needs escaping.
		if p := r.URL.EscapedPath(); r.Method != http.MethodConnect && httpapi.CleanPath(p) != p {
			api.ServeHTTP(w, r)
			return
		}
		mux.ServeHTTP(w, r)
	})
}
