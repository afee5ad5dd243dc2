package main

import (
	"crypto/tls"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sessiond/sessiond/internal/config"
	"github.com/sessiond/sessiond/internal/testenv"
)

// healthcheck exits 0 only when the server itself answers /readyz with 200:
// a redirect (a proxy's login page, a catch-all, another service) is not
// ready, whatever it points at answers.
func TestHealthcheck_RedirectIsNotReady(t *testing.T) {
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusOK) // some other service, not sessiond
	}))
	defer other.Close()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, other.URL+"/login", http.StatusFound)
	}))
	defer srv.Close()
	out, errOut, code := runInProcess(nil, "healthcheck", "--url", srv.URL)
	if code != exitFailure {
		t.Errorf("healthcheck against a /readyz that answers 302 = exit %d, %q %q; want 1 (not ready)", code, out, errOut)
	}
}

// selfSigned writes a self-signed certificate for hosts (DNS names or IP
// addresses) and its key to dir, and returns their paths.
func selfSigned(t *testing.T, dir string, hosts ...string) (certFile, keyFile string) {
	t.Helper()
	cert, key := testenv.CertPEM(t, testenv.SelfSigned(t, 1, hosts...))
	return testenv.WriteFile(t, dir, hosts[0]+".crt", string(cert)), testenv.WriteFile(t, dir, hosts[0]+".key", string(key))
}

// TestHealthcheck_FollowsTLS: with server.tls_cert_file set, the listener
// serves HTTPS only; healthcheck, run with the server's own configuration
// (as the image's HEALTHCHECK is), asks it over HTTPS and exits 0.
func TestHealthcheck_FollowsTLS(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile := selfSigned(t, dir, "localhost", "127.0.0.1")
	cfg := testenv.WriteFile(t, dir, "sessiond.yaml", fmt.Sprintf(
		"server:\n  tls_cert_file: %s\n  tls_key_file: %s\n", certFile, keyFile))
	n := startNode(t, nodeConfig{args: []string{"--config", cfg}})
	out, stderr, code := runCLI(t, []string{"SESSIOND_CONFIG=" + cfg, "SESSIOND_LISTEN=" + n.addr}, "healthcheck")
	if code != 0 {
		t.Errorf("healthcheck with the server's own configuration (TLS on) = exit %d, %q %q; want 0", code, out, strings.TrimSpace(stderr))
	}
}

// TestHealthcheck_TLSPinsTheConfiguredCertificate: over TLS, healthcheck
// accepts the certificate of server.tls_cert_file whatever names it covers
// (one for the public name only, not the loopback address it asks), and
// no other certificate, even one that covers the loopback address.
func TestHealthcheck_TLSPinsTheConfiguredCertificate(t *testing.T) {
	dir := t.TempDir()
	publicCert, publicKey := selfSigned(t, dir, "sessiond.example.com")
	otherCert, _ := selfSigned(t, dir, "127.0.0.1")
	pair, err := tls.LoadX509KeyPair(publicCert, publicKey)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/readyz" {
			http.NotFound(w, r)
		}
	}))
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{pair}}
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshake's line
	srv.StartTLS()
	defer srv.Close()
	for _, tc := range []struct {
		name     string
		certFile string
		want     int
	}{
		{"TheServersCertificate", publicCert, 0},
		{"AnotherCertificate", otherCert, exitFailure},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := testenv.WriteFile(t, t.TempDir(), "sessiond.yaml", fmt.Sprintf(
				"server:\n  tls_cert_file: %s\n  tls_key_file: %s\n", tc.certFile, publicKey))
			env := []string{"SESSIOND_CONFIG=" + cfg, "SESSIOND_LISTEN=" + srv.Listener.Addr().String()}
			if out, errOut, code := runInProcess(env, "healthcheck"); code != tc.want {
				t.Errorf("healthcheck with tls_cert_file %s = exit %d, %q %q; want %d", filepath.Base(tc.certFile), code, out, errOut, tc.want)
			}
		})
	}
}

// pinnedServer serves /readyz over TLS with a self-signed certificate for
// sessiond.example.com and returns its address and the certificate and
// key files.
func pinnedServer(t *testing.T) (addr, certFile, keyFile string) {
	t.Helper()
	certFile, keyFile = selfSigned(t, t.TempDir(), "sessiond.example.com")
	pair, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{pair}}
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv.Listener.Addr().String(), certFile, keyFile
}

// TestHealthcheck_CertificateFileSize: server.tls_cert_file is read
// bounded, at config.MaxCertFileSize: a chain past the 64 KiB of a secret
// file is read (its first certificate pinned), a file past the bound is
// refused, naming it, rather than read whole.
func TestHealthcheck_CertificateFileSize(t *testing.T) {
	addr, certFile, keyFile := pinnedServer(t)
	own, err := os.ReadFile(certFile)
	if err != nil {
		t.Fatal(err)
	}
	other, _ := selfSigned(t, t.TempDir(), "intermediate.example.com")
	filler, err := os.ReadFile(other)
	if err != nil {
		t.Fatal(err)
	}
	// chain is the server's certificate followed by copies of another
	// until the file is over size bytes.
	chain := func(size int) string {
		b := append([]byte(nil), own...)
		for len(b) <= size {
			b = append(b, filler...)
		}
		return string(b)
	}
	for _, tc := range []struct {
		name   string
		text   string
		code   int
		stderr string
	}{
		{"chain over 64 KiB", chain(config.MaxSecretFileSize), 0, ""},
		{"file over the bound", chain(config.MaxCertFileSize), exitFailure, "file too large"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			bundle := testenv.WriteFile(t, dir, "chain.pem", tc.text)
			cfg := testenv.WriteFile(t, dir, "sessiond.yaml", fmt.Sprintf(
				"server:\n  tls_cert_file: %s\n  tls_key_file: %s\n", bundle, keyFile))
			_, errOut, code := runInProcess([]string{"SESSIOND_CONFIG=" + cfg, "SESSIOND_LISTEN=" + addr}, "healthcheck")
			if code != tc.code || !strings.Contains(errOut, tc.stderr) || (tc.stderr != "" && !strings.Contains(errOut, bundle)) {
				t.Errorf("healthcheck with a %d-byte tls_cert_file = exit %d, stderr %.300q; want %d with %q naming the file", len(tc.text), code, errOut, tc.code, tc.stderr)
			}
		})
	}
}
