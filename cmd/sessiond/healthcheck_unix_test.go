//go:build unix

package main

import (
	"fmt"
	"strings"
	"testing"

	"github.com/sessiond/sessiond/internal/testenv"
)

// TestHealthcheck_CertificateFileFIFO: a FIFO as server.tls_cert_file is
// refused at once, naming it, instead of hanging the health check (whose
// --timeout covers only the request) until a writer comes.
func TestHealthcheck_CertificateFileFIFO(t *testing.T) {
	addr, _, keyFile := pinnedServer(t)
	fifo := testenv.FIFO(t)
	cfg := testenv.WriteFile(t, t.TempDir(), "sessiond.yaml", fmt.Sprintf(
		"server:\n  tls_cert_file: %s\n  tls_key_file: %s\n", fifo, keyFile))
	var (
		errOut string
		code   int
	)
	testenv.NotBlockedOn(t, fifo, func() {
		_, errOut, code = runInProcess([]string{"SESSIOND_CONFIG=" + cfg, "SESSIOND_LISTEN=" + addr}, "healthcheck")
	})
	if code != exitFailure || !strings.Contains(errOut, fifo+": not a regular file (a named pipe)") {
		t.Errorf("healthcheck with a FIFO as tls_cert_file = exit %d, stderr %.300q; want %d naming it as a named pipe", code, errOut, exitFailure)
	}
}
