package httpapi

import (
	"net/http"
	"strings"

	"github.com/sessiond/sessiond/internal/ratelimit"
)

// mountBrowser routes Options.BrowserPrefix/… to Options.Browser (the
// browser gateway), inside the middleware: its requests get a request ID,
// the security headers, panic recovery and the request log line like any
// other. Its routes are not API routes: openapi.json does not describe
// them (docs/gateway.md does).
//
// The DBSC routes verify a signature per request, so each browser address
// may call them at RateLimits.PerClientIP (buckets of their own, apart
// from the API's); over it they answer 429 with Retry-After.
func (s *server) mountBrowser(mux *http.ServeMux, opts Options) {
	if opts.Browser == nil {
		return
	}
	prefix := strings.TrimSuffix(opts.BrowserPrefix, "/")
	h := opts.Browser
	addr := opts.BrowserClientIP
	if addr == nil {
		addr = peerIP
	}
	mux.Handle(prefix+"/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// The route, never the raw path.
		info := infoFrom(r.Context())
		info.pattern = prefix + "/"
		switch rest := strings.TrimPrefix(r.URL.Path, prefix+"/"); rest {
		case "dbsc/register", "dbsc/refresh":
			info.pattern += rest
			if ok, retry := s.browserLimit.Allow(ratelimit.AddrKey(addr(r))); !ok {
				w.Header().Set("Cache-Control", "no-store")
				s.writeError(w, r, tooMany(w, retry, "this address is over its request rate"))
				return
			}
		case "check", "refresh", "logout", "session", "login":
			info.pattern += rest
		}
		h.ServeHTTP(w, r)
	}))
}
