package server_test

import (
	"crypto/tls"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sessiond/sessiond/internal/server"
	"github.com/sessiond/sessiond/internal/testenv"
)

// writeValidPair writes a certificate valid from notBefore to notAfter
// and its key, to temporary names then renamed, as renewal tools do.
func writeValidPair(t *testing.T, serial int64, notBefore, notAfter time.Time, certFile, keyFile string) {
	t.Helper()
	cp, kp := testenv.CertPEM(t, testenv.SelfSignedValid(t, serial, notBefore, notAfter, "127.0.0.1"))
	for path, b := range map[string][]byte{certFile: cp, keyFile: kp} {
		if err := os.WriteFile(path+".tmp", b, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(path+".tmp", path); err != nil {
			t.Fatal(err)
		}
	}
}

// TestRun_TLSCertificateExpiry: a node serving a certificate 10 days from
// its end says so at start (WARN) and reports its validity on /metrics,
// for an alert to page before clients refuse it; once a renewed
// certificate is written over the files, the next connection serves it,
// and /metrics reports its dates.
func TestRun_TLSCertificateExpiry(t *testing.T) {
	cfg := devConfig(t)
	dir := t.TempDir()
	cfg.Server.TLSCertFile, cfg.Server.TLSKeyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	now := time.Now().Truncate(time.Second)
	day := 24 * time.Hour
	writeValidPair(t, 1, now.Add(-80*day), now.Add(10*day), cfg.Server.TLSCertFile, cfg.Server.TLSKeyFile)
	logs := &testenv.SyncBuffer{}
	n := start(t, server.Options{Config: cfg, Logger: slog.New(slog.NewJSONHandler(logs, nil))})

	warned := 0
	for _, l := range strings.Split(logs.String(), "\n") {
		var m map[string]any
		if json.Unmarshal([]byte(l), &m) == nil && m["msg"] == "TLS certificate expires soon; renew it" {
			warned++
			if m["level"] != "WARN" || m["not_after"] != now.Add(10*day).UTC().Format(time.RFC3339) {
				t.Errorf("expiry line %s; want WARN with the certificate's not_after", l)
			}
		}
	}
	if warned != 1 {
		t.Errorf("%d expiry WARN lines at start; want 1", warned)
	}

	hc := &http.Client{Transport: &http.Transport{DisableKeepAlives: true, // each scrape a new handshake
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}} // the test checks the dates, not the chain
	gauges := func() (notBefore, notAfter float64) {
		t.Helper()
		res, err := hc.Get("https://" + n.addr + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		for _, l := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(l, "sessiond_tls_certificate_not_before_timestamp_seconds "); ok {
				notBefore, _ = strconv.ParseFloat(v, 64)
			}
			if v, ok := strings.CutPrefix(l, "sessiond_tls_certificate_not_after_timestamp_seconds "); ok {
				notAfter, _ = strconv.ParseFloat(v, 64)
			}
		}
		return notBefore, notAfter
	}
	unix := func(t time.Time) float64 { return float64(t.Unix()) }
	for _, step := range []struct {
		name                string
		notBefore, notAfter time.Time
	}{
		{"at start", now.Add(-80 * day), now.Add(10 * day)},
		{"renewed", now.Add(-time.Hour), now.Add(90 * day)},
	} {
		if step.name != "at start" {
			writeValidPair(t, 2, step.notBefore, step.notAfter, cfg.Server.TLSCertFile, cfg.Server.TLSKeyFile)
		}
		nb, na := gauges()
		if nb != unix(step.notBefore) || na != unix(step.notAfter) {
			t.Errorf("%s: gauges not_before %v, not_after %v; want %v, %v", step.name, nb, na, unix(step.notBefore), unix(step.notAfter))
		}
	}
}
