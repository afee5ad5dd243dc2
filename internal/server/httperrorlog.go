package server

import (
	"context"
	"log"
	"log/slog"
	"strings"
	"unicode/utf8"
)

// maxHTTPErrorLine bounds a line Go's HTTP server writes to ErrorLog: some
// quote what a client sent (the protocols of a ClientHello, a GOAWAY's
// debug data), tens of kilobytes per connection.
const maxHTTPErrorLine = 1024

// clientCausedHTTPErrors are the starts of ErrorLog lines that a client
// causes at will, once per connection: a client's error, logged at INFO as
// a 4xx request line is, not a WARN to page on. The rest (Accept error,
// panics, a handler's misuse of the ResponseWriter) stay WARN.
var clientCausedHTTPErrors = []string{
	"http: TLS handshake error from ",
	"http2: received GOAWAY ",
	"http2: server connection error from ",
	"http2: server closing client connection",
	"http2: server: error reading preface from client ",
	"timeout waiting for SETTINGS frames from ",
	"timeout waiting for PING response",
}

// httpErrorLog returns the ErrorLog of the server's http.Servers: WARN
// lines on h, but a client's errors at INFO, every line cut to
// maxHTTPErrorLine bytes.
func httpErrorLog(h slog.Handler) *log.Logger {
	return slog.NewLogLogger(httpErrorHandler{h}, slog.LevelWarn)
}

// httpErrorHandler is the slog.Handler under httpErrorLog.
type httpErrorHandler struct{ slog.Handler }

// Enabled is asked of WARN (the Logger's level); a line lowered to INFO is
// checked again in Handle.
func (h httpErrorHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return h.Handler.Enabled(ctx, slog.LevelInfo) || h.Handler.Enabled(ctx, l)
}

func (h httpErrorHandler) Handle(ctx context.Context, r slog.Record) error {
	for _, p := range clientCausedHTTPErrors {
		if strings.HasPrefix(r.Message, p) {
			r.Level = slog.LevelInfo
			break
		}
	}
	if !h.Handler.Enabled(ctx, r.Level) {
		return nil
	}
	if len(r.Message) > maxHTTPErrorLine {
		cut := maxHTTPErrorLine
		for cut > 0 && !utf8.RuneStart(r.Message[cut]) {
			cut--
		}
		n := len(r.Message)
		r = r.Clone()
		r.Message = r.Message[:cut] + "…"
		r.AddAttrs(slog.Int("cut_bytes", n-cut))
	}
	return h.Handler.Handle(ctx, r)
}

func (h httpErrorHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return httpErrorHandler{h.Handler.WithAttrs(as)}
}

func (h httpErrorHandler) WithGroup(name string) slog.Handler {
	return httpErrorHandler{h.Handler.WithGroup(name)}
}
