package server

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"
	"unicode/utf8"
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
