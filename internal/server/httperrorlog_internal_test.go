package server

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/sessiond/sessiond/internal/config"
)

// TestHTTPErrorLog_Levels: only the lines a client causes at will drop to
// INFO; the ones an operator acts on (file descriptors exhausted at
// accept, a handler's panic or misuse of the ResponseWriter) stay WARN,
// and a handler at WARN still drops the INFO ones.
func TestHTTPErrorLog_Levels(t *testing.T) {
	tests := []struct {
		name, line, want string // want: the level, "" for no line
		handlerLevel     slog.Level
	}{
		{"accept error", "http: Accept error: accept tcp [::]:8080: accept4: too many open files; retrying in 5ms", "WARN", slog.LevelInfo},
		{"panic", "http: panic serving 192.0.2.1:4000: boom\ngoroutine 7 [running]:", "WARN", slog.LevelInfo},
		{"superfluous WriteHeader", "http: superfluous response.WriteHeader call from main.h (x.go:1)", "WARN", slog.LevelInfo},
		{"TLS handshake", "http: TLS handshake error from 192.0.2.1:4000: EOF", "INFO", slog.LevelInfo},
		{"http2 connection error", "http2: server connection error from 192.0.2.1:4000: connection error: PROTOCOL_ERROR", "INFO", slog.LevelInfo},
		{"http2 preface", "http2: server: error reading preface from client 192.0.2.1:4000: EOF", "INFO", slog.LevelInfo},
		{"TLS handshake under a WARN handler", "http: TLS handshake error from 192.0.2.1:4000: EOF", "", slog.LevelWarn},
		{"accept error under a WARN handler", "http: Accept error: accept tcp: too many open files; retrying in 5ms", "WARN", slog.LevelWarn},
		{"anything under an ERROR handler", "http: Accept error: accept tcp: too many open files; retrying in 5ms", "", slog.LevelError},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			httpErrorLog(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: tt.handlerLevel})).Print(tt.line)
			if tt.want == "" {
				if buf.Len() != 0 {
					t.Errorf("logged %s; want nothing", buf.String())
				}
				return
			}
			var m map[string]any
			if err := json.Unmarshal(buf.Bytes(), &m); err != nil {
				t.Fatalf("line %q: %v", buf.String(), err)
			}
			if m["level"] != tt.want {
				t.Errorf("level = %v; want %s", m["level"], tt.want)
			}
		})
	}
}

// TestHTTPErrorLog_Cut: a line longer than maxHTTPErrorLine is cut on a
// character boundary, however the multi-byte characters fall, and says
// how many bytes it lost.
func TestHTTPErrorLog_Cut(t *testing.T) {
	prefix := "http: TLS handshake error from 192.0.2.1:4000: tls: client requested unsupported application protocols (["
	for pad := range 4 { // move the 2-, 3- and 4-byte characters across the cut
		line := prefix + strings.Repeat("a", pad) + strings.Repeat("é€😀", 200)
		var buf bytes.Buffer
		httpErrorLog(slog.NewJSONHandler(&buf, nil)).Print(line)
		var m struct {
			Msg string `json:"msg"`
			Cut int    `json:"cut_bytes"`
		}
		if err := json.Unmarshal(buf.Bytes(), &m); err != nil {
			t.Fatalf("pad %d: line %q: %v", pad, buf.String(), err)
		}
		msg, ok := strings.CutSuffix(m.Msg, "…")
		if !ok || !utf8.ValidString(msg) || strings.ContainsRune(msg, utf8.RuneError) {
			t.Fatalf("pad %d: msg %q; want valid UTF-8 ending in …", pad, m.Msg)
		}
		if len(msg) > maxHTTPErrorLine || len(msg) <= maxHTTPErrorLine-utf8.UTFMax || !strings.HasPrefix(line, msg) {
			t.Errorf("pad %d: kept %d bytes; want the line's first %d at most, cut on the last character boundary", pad, len(msg), maxHTTPErrorLine)
		}
		if m.Cut != len(line)-len(msg) {
			t.Errorf("pad %d: cut_bytes = %d; want %d", pad, m.Cut, len(line)-len(msg))
		}
	}
	var buf bytes.Buffer
	short := "http: TLS handshake error from 192.0.2.1:4000: EOF"
	httpErrorLog(slog.NewJSONHandler(&buf, nil)).Print(short)
	if strings.Contains(buf.String(), "cut_bytes") || !strings.Contains(buf.String(), `"msg":"`+short+`"`) {
		t.Errorf("short line logged as %s; want it whole, without cut_bytes", buf.String())
	}
}

// TestHTTPErrorLog_CutEscaped: the cut bounds the line as written, not
// the bytes the client sent: a byte the handler writes escaped (a control
// byte as \u0001 in JSON or \x7f in text, an invalid byte as \ufffd, a
// character text quotes as \U000e0001) counts as its escape, so a hostile
// line of them writes at most maxHTTPErrorLine bytes of message, cut on a
// character boundary, valid UTF-8 in either log format.
func TestHTTPErrorLog_CutEscaped(t *testing.T) {
	prefix := "http: TLS handshake error from 192.0.2.1:4000: tls: client requested unsupported application protocols (["
	var controls strings.Builder
	for range 100 {
		for b := byte(0); b < 0x20; b++ {
			controls.WriteByte(b)
		}
	}
	lines := []struct{ name, body string }{
		{"control bytes", controls.String()},
		{"NUL bytes", strings.Repeat("\x00", 6000)},
		{"escape sequences", strings.Repeat("\x1b[31m", 2000)},
		{"DEL", strings.Repeat("\x7f", 6000)},
		{"invalid bytes", strings.Repeat("\xff\x80", 3000)},
		{"quotes and backslashes", strings.Repeat(`"\\`, 3000)},
		{"line separators", strings.Repeat("\u2028\u2029", 2000)},
		{"invisible tags", strings.Repeat("\U000E0001", 2000)},
		{"mixed", strings.Repeat("a\x01é\xff€\u2028😀\U000E0041\"", 600)},
		{"plain", strings.Repeat("é€😀", 600)},
	}
	jsonHandler := func(w io.Writer) slog.Handler {
		return slog.NewJSONHandler(w, &slog.HandlerOptions{ReplaceAttr: dropTime})
	}
	formats := []struct {
		name  string
		new   func(io.Writer) slog.Handler
		tight bool // the cut knows the format: as much as fits is kept
	}{
		{"json", jsonHandler, true},
		{"text", func(w io.Writer) slog.Handler {
			return slog.NewTextHandler(w, &slog.HandlerOptions{ReplaceAttr: dropTime})
		}, true},
		// A handler of unknown format (an embedder's): counted as the
		// longer of the two.
		{"json in another handler", func(w io.Writer) slog.Handler { return otherHandler{jsonHandler(w)} }, false},
	}
	for _, f := range formats {
		for _, l := range lines {
			t.Run(f.name+"/"+l.name, func(t *testing.T) {
				line := prefix + l.body
				var buf bytes.Buffer
				httpErrorLog(f.new(&buf)).Print(line)
				written := buf.Bytes()
				if !utf8.Valid(written) {
					t.Fatalf("line not valid UTF-8: %q", written)
				}
				// The same line with an empty message: what is not the message.
				var cut int
				if f.name != "text" {
					var m struct {
						Cut int `json:"cut_bytes"`
					}
					if err := json.Unmarshal(written, &m); err != nil {
						t.Fatalf("line %q: %v", written, err)
					}
					cut = m.Cut
				} else {
					_, after, ok := bytes.Cut(written, []byte(" cut_bytes="))
					if !ok {
						t.Fatalf("line %q: no cut_bytes", written)
					}
					if err := json.Unmarshal(bytes.TrimSpace(after), &cut); err != nil {
						t.Fatalf("line %q: cut_bytes: %v", written, err)
					}
				}
				if cut <= 0 || cut >= len(line) {
					t.Fatalf("cut_bytes = %d; want some of the line's %d bytes", cut, len(line))
				}
				var empty bytes.Buffer
				slog.New(f.new(&empty)).Info("", "cut_bytes", cut)
				msg := len(written) - empty.Len() - len("…")
				if msg > maxHTTPErrorLine || f.tight && msg <= maxHTTPErrorLine-len(`\U000e0001`) {
					t.Errorf("message written in %d bytes (escaped); want at most %d, cut on the last character that fits", msg, maxHTTPErrorLine)
				}
				if f.name == "json" && utf8.ValidString(line) {
					var m struct {
						Msg string `json:"msg"`
					}
					_ = json.Unmarshal(written, &m)
					kept, ok := strings.CutSuffix(m.Msg, "…")
					if !ok || !strings.HasPrefix(line, kept) || cut != len(line)-len(kept) {
						t.Errorf("kept %d bytes, cut_bytes %d: want the line's start, and cut_bytes the rest of its %d bytes", len(kept), cut, len(line))
					}
				}
			})
		}
	}
}

func dropTime(_ []string, a slog.Attr) slog.Attr {
	if a.Key == slog.TimeKey {
		return slog.Attr{}
	}
	return a
}

// otherHandler is a handler httpErrorLog does not know the format of.
type otherHandler struct{ slog.Handler }

// TestHTTPErrorLog_CutServerLogger: the server's own JSON log (NewLogger's
// handler, logjson.go) is counted as JSON, not as a handler of unknown
// format: a line of bytes JSON writes bare but text escapes (DEL, an
// invisible tag) keeps as much as fits in maxHTTPErrorLine.
func TestHTTPErrorLog_CutServerLogger(t *testing.T) {
	prefix := "http: TLS handshake error from 192.0.2.1:4000: tls: client requested unsupported application protocols (["
	for _, body := range []string{strings.Repeat("\x7f", 6000), strings.Repeat("\U000E0001", 2000)} {
		var buf bytes.Buffer
		log, closeLog := NewLogger(&buf, config.Log{Format: "json"})
		httpErrorLog(log.Handler()).Print(prefix + body)
		if err := closeLog(); err != nil {
			t.Fatal(err)
		}
		var m struct {
			Msg string `json:"msg"`
		}
		if err := json.Unmarshal(buf.Bytes(), &m); err != nil {
			t.Fatalf("line %q: %v", buf.String(), err)
		}
		// Neither DEL nor U+E0001 is escaped in JSON: the message's bytes
		// are the bytes written.
		kept, ok := strings.CutSuffix(m.Msg, "…")
		if !ok || len(kept) > maxHTTPErrorLine || len(kept) <= maxHTTPErrorLine-utf8.UTFMax {
			t.Errorf("%q…: kept %d bytes; want the most that fit in %d", body[:4], len(kept), maxHTTPErrorLine)
		}
	}
}
