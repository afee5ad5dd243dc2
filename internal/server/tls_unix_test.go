//go:build unix

package server_test

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/sessiond/sessiond/internal/server"
	"github.com/sessiond/sessiond/internal/testenv"
)

// TestRun_TLSFileIsFIFO: the certificate and key files are read as secret
// files are: a FIFO in their place is refused at start without waiting for
// a writer, and one put there by a renewal does not stall the handshakes
// (a reload runs inside each, under a lock): the previous pair is served.
func TestRun_TLSFileIsFIFO(t *testing.T) {
	for _, which := range []string{"cert", "key"} {
		t.Run("at start, "+which, func(t *testing.T) {
			cfg := devConfig(t)
			dir := t.TempDir()
			cfg.Server.TLSCertFile, cfg.Server.TLSKeyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
			writePair(t, 1, cfg.Server.TLSCertFile, cfg.Server.TLSKeyFile)
			fifo := mkfifoAt(t, map[string]string{"cert": cfg.Server.TLSCertFile, "key": cfg.Server.TLSKeyFile}[which])
			var err error
			testenv.NotBlockedOn(t, fifo, func() {
				err = server.Run(t.Context(), server.Options{Config: cfg, APIKey: testKey, InsecureDev: true})
			})
			if err == nil {
				t.Fatal("Run started with a FIFO as a TLS file")
			}
		})
	}
	t.Run("at reload", func(t *testing.T) {
		cfg := devConfig(t)
		dir := t.TempDir()
		cfg.Server.TLSCertFile, cfg.Server.TLSKeyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
		writePair(t, 1, cfg.Server.TLSCertFile, cfg.Server.TLSKeyFile)
		n := start(t, server.Options{Config: cfg})
		if got := servedSerial(t, n.addr); got != 1 {
			t.Fatalf("served serial %d; want 1", got)
		}
		fifo := mkfifoAt(t, cfg.Server.TLSKeyFile)
		var got int64
		testenv.NotBlockedOn(t, fifo, func() { got = servedSerial(t, n.addr) })
		if got != 1 {
			t.Errorf("with a FIFO as the key file served serial %d; want the previous 1", got)
		}
	})
}

// mkfifoAt replaces the file at path with a FIFO and returns path.
func mkfifoAt(t *testing.T, path string) string {
	t.Helper()
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(path, 0o600); err != nil {
		t.Skipf("mkfifo: %v", err)
	}
	return path
}
