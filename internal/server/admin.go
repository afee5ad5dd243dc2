package server

import (
	"fmt"
	"log/slog"
	"net"
	"net/http"

	"github.com/sessiond/sessiond/internal/config"
	"github.com/sessiond/sessiond/internal/httpapi"
)

// adminServer is the server.admin_listen listener: GET /healthz and
// /readyz (answered by the API handler, exactly as on the API port) and
// GET /metrics, which then leaves the API port, and the operator console
// at /console when it is enabled. Nothing else is routed: the rest is
// answered 404 or 405 as the API port answers it.
//
// It holds at most nconns connections at once (connlimit.go).
func adminServer(cfg config.Config, api, metrics, console http.Handler, nconns int, log *slog.Logger) (*http.Server, net.Listener, error) {
	mux := http.NewServeMux()
	mux.Handle("GET /healthz", api)
	mux.Handle("GET /readyz", api)
	mux.Handle("GET /metrics", metrics)
	mountConsole(mux, console)
	// The mux's own 404 and 405 are plain text, without the API's security
	// headers or request ID: what no route takes is answered as on the API
	// port.
	fallback := httpapi.Fallback(api, map[string][]string{
		"/healthz": {http.MethodGet}, "/readyz": {http.MethodGet}, "/metrics": {http.MethodGet},
	})
	mux.Handle("/", fallback)
	srv := &http.Server{
		Handler:           canonical(mux, fallback),
		ReadHeaderTimeout: cfg.Server.ReadHeaderTimeout.Std(),
		ReadTimeout:       cfg.Server.ReadTimeout.Std(),
		WriteTimeout:      cfg.Server.WriteTimeout.Std(),
		IdleTimeout:       cfg.Server.IdleTimeout.Std(),
		MaxHeaderBytes:    8 << 10,
		ErrorLog:          httpErrorLog(log.Handler()),
	}
	ln, err := net.Listen("tcp", cfg.Server.AdminListen)
	if err != nil {
		return nil, nil, fmt.Errorf("server.admin_listen: %w", err)
	}
	return srv, limitConns(ln, nconns, "admin", log), nil
}
