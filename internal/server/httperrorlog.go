package server

import (
	"context"
	"log"
	"log/slog"
	"strconv"
	"strings"
	"unicode/utf8"
)

// maxHTTPErrorLine bounds a line Go's HTTP server writes to ErrorLog: some
// quote what a client sent (the protocols of a ClientHello, a GOAWAY's
// debug data), tens of kilobytes per connection. It bounds the message as
// the log writes it, escapes included (escapedCut).
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
// lines on h, but a client's errors at INFO, every line's message cut to
// maxHTTPErrorLine bytes as h writes it.
func httpErrorLog(h slog.Handler) *log.Logger {
	return slog.NewLogLogger(httpErrorHandler{h, escapedLenFor(h)}, slog.LevelWarn)
}

// httpErrorHandler is the slog.Handler under httpErrorLog; escaped is the
// bytes its handler writes for one character.
type httpErrorHandler struct {
	slog.Handler
	escaped func(c rune, raw string) int
}

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
	if cut := escapedCut(r.Message, maxHTTPErrorLine, h.escaped); cut < len(r.Message) {
		n := len(r.Message)
		r = r.Clone()
		r.Message = r.Message[:cut] + "…"
		r.AddAttrs(slog.Int("cut_bytes", n-cut))
	}
	return h.Handler.Handle(ctx, r)
}

// escapedCut returns the length of the longest start of s, ending on a
// character boundary, that takes at most limit bytes as escaped counts
// them: len(s) when all of it fits. A client's text may be all control or
// invalid bytes, which a log writes escaped, each in up to six bytes.
func escapedCut(s string, limit int, escaped func(c rune, raw string) int) int {
	n := 0
	for i := 0; i < len(s); {
		c, size := utf8.DecodeRuneInString(s[i:])
		if n += escaped(c, s[i:i+size]); n > limit {
			return i
		}
		i += size
	}
	return len(s)
}

// escapedLenFor returns the count of bytes h writes for one character of
// a message: the log's two formats (log.format) counted exactly, any other
// handler as the longer of them.
func escapedLenFor(h slog.Handler) func(c rune, raw string) int {
	switch h.(type) {
	case *slog.JSONHandler, *jsonLineHandler: // the latter writes the JSONHandler's bytes (logjson.go)
		return jsonEscapedLen
	case *slog.TextHandler:
		return textEscapedLen
	}
	return func(c rune, raw string) int { return max(jsonEscapedLen(c, raw), textEscapedLen(c, raw)) }
}

// jsonEscapedLen is what slog's JSON handler writes for the character c,
// raw in the message (one invalid byte when c is utf8.RuneError of size
// 1): \u00XX for a control byte, \ufffd for an invalid byte, \u2028.
func jsonEscapedLen(c rune, raw string) int {
	switch {
	case c == '"' || c == '\\' || c == '\n' || c == '\r' || c == '\t':
		return 2
	case c < 0x20, c == utf8.RuneError && len(raw) == 1, c == '\u2028', c == '\u2029':
		return 6
	}
	return len(raw)
}

// textEscapedLen is what slog's text handler writes for c, raw in a
// message it quotes (strconv.Quote: \x7f, \U000e0001); a message with no
// such character is written bare, shorter.
func textEscapedLen(_ rune, raw string) int {
	var buf [16]byte
	return len(strconv.AppendQuote(buf[:0], raw)) - 2
}

func (h httpErrorHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return httpErrorHandler{h.Handler.WithAttrs(as), h.escaped}
}

func (h httpErrorHandler) WithGroup(name string) slog.Handler {
	return httpErrorHandler{h.Handler.WithGroup(name), h.escaped}
}
