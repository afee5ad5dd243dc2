package httpapi

import (
	"net/http"
	"strings"
	"time"

	"github.com/sessiond/sessiond/internal/ratelimit"
)

// mountBrowser routes Options.BrowserPrefix/… to Options.Browser (the
// browser gateway), inside the middleware: its requests get a request ID,
// the security headers, panic recovery and the request log line like any
// other. Its routes are not API routes: openapi.json does not describe
// them (docs/gateway.md does).
//
// Each browser address (Options.BrowserClientIP) may call the routes at
// RateLimits.PerClientIP, in buckets of their own apart from the API's;
// over it they answer 429 with Retry-After, check included: the rate of
// one address, not its credentials, is refused. A Browser that can count
// refused credentials (failureLimiter, the gateway) is given
// RateLimits.AuthFailures per browser address, in buckets of their own
// too: the API's are keyed by the connection's peer, which for the browser
// routes is the proxy.
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
	if fl, ok := h.(failureLimiter); ok && s.browserFails != nil {
		h = fl.WithFailureLimit(func(r *http.Request) (bool, time.Duration) {
			return s.browserFails.Allow(ratelimit.AddrKey(addr(r)))
		})
	}
	mux.Handle(prefix+"/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// The route, never the raw path.
		info := infoFrom(r.Context())
		info.pattern = prefix + "/"
		switch rest := strings.TrimPrefix(r.URL.Path, prefix+"/"); rest {
		case "dbsc/register", "dbsc/refresh", "check", "refresh", "logout", "session", "login":
			info.pattern += rest
		}
		if ok, retry := s.browserLimit.Allow(ratelimit.AddrKey(addr(r))); !ok {
			w.Header().Set("Cache-Control", "no-store")
			s.writeError(w, r, tooMany(w, retry, "this address is over its request rate"))
			return
		}
		h.ServeHTTP(w, r)
	}))
}

// failureLimiter is a Browser handler that counts the requests it refuses
// for an invalid or unknown credential (gateway.Gateway.WithFailureLimit):
// limit spends one for the request's sender and says whether it is still
// within its limit.
type failureLimiter interface {
	WithFailureLimit(limit func(*http.Request) (bool, time.Duration)) http.Handler
}
