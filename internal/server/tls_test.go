package server_test

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/sessiond/sessiond/internal/config"
	"github.com/sessiond/sessiond/internal/server"
	"github.com/sessiond/sessiond/internal/testenv"
)

// writePair writes a self-signed certificate for 127.0.0.1 with serial,
// and its key, to cert and key, and returns the certificate.
func writePair(t *testing.T, serial int64, cert, key string) *x509.Certificate {
	t.Helper()
	c := testenv.SelfSigned(t, serial, "127.0.0.1")
	testenv.WriteCertPair(t, cert, key, c)
	return c.Leaf
}

// servedSerial opens a new TLS connection and returns the serial of the
// certificate the server presents.
func servedSerial(t *testing.T, addr string) int64 {
	t.Helper()
	conn, err := tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true}) // the test reads the certificate itself
	if err != nil {
		t.Fatalf("TLS handshake: %v", err)
	}
	defer conn.Close()
	return conn.ConnectionState().PeerCertificates[0].SerialNumber.Int64()
}

// TestRun_TLSReloadsCertificate: with server.tls_cert_file and
// server.tls_key_file the API is served over HTTPS only, and a renewed
// certificate written over the files is served on the next connection
// without a restart.
func TestRun_TLSReloadsCertificate(t *testing.T) {
	cfg := devConfig(t)
	dir := t.TempDir()
	cfg.Server.TLSCertFile, cfg.Server.TLSKeyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	first := writePair(t, 1, cfg.Server.TLSCertFile, cfg.Server.TLSKeyFile)
	n := start(t, server.Options{Config: cfg})

	pool := x509.NewCertPool()
	pool.AddCert(first)
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	resp, err := hc.Get("https://" + n.addr + "/healthz")
	if err != nil {
		t.Fatalf("GET /healthz over HTTPS: %v", err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /healthz over HTTPS = %d", resp.StatusCode)
	}
	if resp, err := http.Get("http://" + n.addr + "/healthz"); err == nil {
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			t.Error("plain HTTP answered 200 on a TLS listener")
		}
	}

	if got := servedSerial(t, n.addr); got != 1 {
		t.Fatalf("served serial %d; want 1", got)
	}
	writePair(t, 2, cfg.Server.TLSCertFile, cfg.Server.TLSKeyFile)
	// Make the change visible whatever the file system's time granularity.
	later := time.Now().Add(time.Minute)
	for _, f := range []string{cfg.Server.TLSCertFile, cfg.Server.TLSKeyFile} {
		if err := os.Chtimes(f, later, later); err != nil {
			t.Fatal(err)
		}
	}
	if got := servedSerial(t, n.addr); got != 2 {
		t.Errorf("after renewal served serial %d; want 2", got)
	}

	// A broken renewal (a key that does not match) keeps the last good pair.
	if err := os.WriteFile(cfg.Server.TLSKeyFile, []byte("not a key"), 0o600); err != nil {
		t.Fatal(err)
	}
	if got := servedSerial(t, n.addr); got != 2 {
		t.Errorf("after a broken renewal served serial %d; want the previous 2", got)
	}
}

// TestRun_HSTS: a node that serves TLS itself sends Strict-Transport-
// Security on every answer, errors included (checklist 22); one on plain
// HTTP never does (RFC 6797 §7.2).
func TestRun_HSTS(t *testing.T) {
	cfg := devConfig(t)
	dir := t.TempDir()
	cfg.Server.TLSCertFile, cfg.Server.TLSKeyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	pool := x509.NewCertPool()
	pool.AddCert(writePair(t, 1, cfg.Server.TLSCertFile, cfg.Server.TLSKeyFile))
	tlsNode := start(t, server.Options{Config: cfg})
	plainNode := start(t, server.Options{Config: devConfig(t)})
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}

	for _, tt := range []struct {
		base, method, path string
		want               string
	}{
		{"https://" + tlsNode.addr, http.MethodGet, "/healthz", "max-age=31536000; includeSubDomains"},
		{"https://" + tlsNode.addr, http.MethodPost, "/v1/sessions", "max-age=31536000; includeSubDomains"}, // 401: no API key
		{"https://" + tlsNode.addr, http.MethodGet, "/no-such-path", "max-age=31536000; includeSubDomains"},
		{"http://" + plainNode.addr, http.MethodGet, "/healthz", ""},
		{"http://" + plainNode.addr, http.MethodPost, "/v1/sessions", ""},
	} {
		req, err := http.NewRequest(tt.method, tt.base+tt.path, nil)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatalf("%s %s%s: %v", tt.method, tt.base, tt.path, err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if got := resp.Header.Get("Strict-Transport-Security"); got != tt.want {
			t.Errorf("%s %s%s (%d): Strict-Transport-Security %q; want %q", tt.method, tt.base, tt.path, resp.StatusCode, got, tt.want)
		}
	}
}

// TestRun_TLSBadFiles: a missing or unreadable pair stops the server at
// start instead of serving plain HTTP.
func TestRun_TLSBadFiles(t *testing.T) {
	dir := t.TempDir()
	garbage := testenv.WriteFile(t, dir, "garbage.pem", "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")
	for name, files := range map[string][2]string{
		"missing": {filepath.Join(dir, "nope.pem"), filepath.Join(dir, "nope.key")},
		"garbage": {garbage, garbage},
		"no key":  {garbage, ""},
	} {
		t.Run(name, func(t *testing.T) {
			cfg := devConfig(t)
			cfg.Server.TLSCertFile, cfg.Server.TLSKeyFile = files[0], files[1]
			err := server.Run(t.Context(), server.Options{Config: cfg, APIKey: testKey, InsecureDev: true})
			if err == nil {
				t.Fatal("Run started with a bad TLS configuration")
			}
		})
	}
}

// --insecure-dev starts despite error findings only on loopback: the admin
// listener (/metrics, the operator console and its admin API key sign-in,
// always plain HTTP) included.
func TestRun_InsecureDevNeedsLoopbackAdminListen(t *testing.T) {
	cfg := devConfig(t)
	cfg.Environment = config.EnvProduction
	cfg.Cookie.Secure = false // an error finding in production
	cfg.Server.AdminListen = "0.0.0.0:0"
	err := server.Run(t.Context(), server.Options{Config: cfg, APIKey: testKey, InsecureDev: true, Logger: slog.New(slog.DiscardHandler)})
	if !errors.Is(err, server.ErrInvalidConfig) {
		t.Fatalf("--insecure-dev with server.admin_listen on 0.0.0.0 = %v; want ErrInvalidConfig", err)
	}
	cfg.Server.AdminListen = "127.0.0.1:0"
	n := start(t, server.Options{Config: cfg, InsecureDev: true})
	if err := n.stop(); err != nil {
		t.Fatal(err)
	}
}
