package httpapi

import (
	"net/http"
	"strings"
)

// mountBrowser routes Options.BrowserPrefix/… to Options.Browser (the
// browser gateway), inside the middleware: its requests get a request ID,
// the security headers, panic recovery and the request log line like any
// other. Its routes are not API routes: openapi.json does not describe
// them (docs/gateway.md does).
func mountBrowser(mux *http.ServeMux, opts Options) {
	if opts.Browser == nil {
		return
	}
	prefix := strings.TrimSuffix(opts.BrowserPrefix, "/")
	h := opts.Browser
	mux.Handle(prefix+"/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// The route, never the raw path.
		info := infoFrom(r.Context())
		info.pattern = prefix + "/"
		switch rest := strings.TrimPrefix(r.URL.Path, prefix+"/"); rest {
		case "check", "refresh", "logout", "session", "login", "dbsc/register", "dbsc/refresh":
			info.pattern += rest
		}
		h.ServeHTTP(w, r)
	}))
}
