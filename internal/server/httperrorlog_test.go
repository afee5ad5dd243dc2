package server_test

import (
	"crypto/tls"
	"encoding/json"
	"log/slog"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sessiond/sessiond/internal/server"
	"github.com/sessiond/sessiond/internal/testenv"
)

// TestRun_TLSHandshakeErrorLine: a client that fails its TLS handshake
// (a scanner, a plain-HTTP health check, a ClientHello offering only
// protocols of its own choosing) is a client's error: its line from Go's
// HTTP server is INFO, not a WARN an operator pages on per connection,
// and the text the client chose is cut, not copied whole into the log.
func TestRun_TLSHandshakeErrorLine(t *testing.T) {
	cfg := devConfig(t)
	dir := t.TempDir()
	cfg.Server.TLSCertFile, cfg.Server.TLSKeyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	writePair(t, 1, cfg.Server.TLSCertFile, cfg.Server.TLSKeyFile)
	logs := &testenv.SyncBuffer{}
	n := start(t, server.Options{Config: cfg, Logger: slog.New(slog.NewJSONHandler(logs, nil))})

	evil := "EVIL\x1b[31m\n" + strings.Repeat("A", 20000)
	conn, err := tls.Dial("tcp", n.addr, &tls.Config{InsecureSkipVerify: true, NextProtos: []string{evil[:250], evil[250:500]}})
	if err == nil {
		conn.Close()
		t.Fatal("handshake offering only unknown protocols succeeded")
	}
	// Many protocols, as a ClientHello may carry: the line quotes them all.
	var protos []string
	for i := range 200 {
		protos = append(protos, strings.Repeat(string(rune('a'+i%26)), 250))
	}
	if conn, err := tls.Dial("tcp", n.addr, &tls.Config{InsecureSkipVerify: true, NextProtos: protos}); err == nil {
		conn.Close()
	}
	if c, err := net.Dial("tcp", n.addr); err == nil {
		c.Write([]byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"))
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		c.Read(make([]byte, 512))
		c.Close()
	}

	var lines []map[string]any
	for deadline := time.Now().Add(10 * time.Second); ; {
		lines = lines[:0]
		for _, l := range strings.Split(logs.String(), "\n") {
			if strings.Contains(l, "TLS handshake error") {
				var m map[string]any
				if err := json.Unmarshal([]byte(l), &m); err != nil {
					t.Fatalf("line %q: %v", l, err)
				}
				m["bytes"] = len(l)
				lines = append(lines, m)
			}
		}
		if len(lines) >= 3 || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if len(lines) != 3 {
		t.Fatalf("%d TLS handshake error lines; want 3", len(lines))
	}
	for _, m := range lines {
		if m["level"] != "INFO" {
			t.Errorf("TLS handshake error line at %v; want INFO: %.200v", m["level"], m["msg"])
		}
		if b := m["bytes"].(int); b > 1200 {
			t.Errorf("TLS handshake error line of %d bytes; want at most 1200 (the client's text cut)", b)
		}
	}
}
