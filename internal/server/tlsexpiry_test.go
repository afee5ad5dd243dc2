package server_test

import (
	"crypto/tls"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sessiond/sessiond/internal/server"
	"github.com/sessiond/sessiond/internal/testenv"
)

// TestRun_TLSCertificateExpiry: a node serving a certificate 10 days from
// its end says so at start (WARN) and reports its validity on /metrics,
// for an alert to page before clients refuse it; once a renewed
// certificate is written over the files, /metrics reports its dates at
// the next scrape, with or without a TLS connection in between (/metrics
// on the plain-HTTP admin listener, the API listener idle: before, the
// gauges kept the old dates until a client's handshake reloaded the
// files, and the alerts fired on a renewed node).
func TestRun_TLSCertificateExpiry(t *testing.T) {
	const expiring = "TLS certificate expires soon; renew it"
	day := 24 * time.Hour
	for _, tt := range []struct {
		name      string
		handshake bool // a TLS connection to the API listener before each scrape
	}{
		{"with TLS traffic", true},
		{"without TLS traffic", false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cfg := devConfig(t)
			cfg.Server.TLSCertFile, cfg.Server.TLSKeyFile = testenv.CertFiles(t)
			cfg.Server.AdminListen = "127.0.0.1:0"
			now := time.Now().Truncate(time.Second)
			write := func(serial int64, notBefore, notAfter time.Time) {
				testenv.WriteCertPair(t, cfg.Server.TLSCertFile, cfg.Server.TLSKeyFile,
					testenv.SelfSignedValid(t, serial, notBefore, notAfter, "127.0.0.1"))
			}
			write(1, now.Add(-80*day), now.Add(10*day))
			logs := &testenv.SyncBuffer{}
			admin := make(chan string, 1)
			n := start(t, server.Options{Config: cfg, Logger: slog.New(slog.NewJSONHandler(logs, nil)),
				AdminListening: func(a string) { admin <- a }})
			adminAddr := <-admin

			warned := 0
			for _, m := range logs.Records(t) {
				if m["msg"] == expiring {
					warned++
					if m["level"] != "WARN" || m["not_after"] != now.Add(10*day).UTC().Format(time.RFC3339) {
						t.Errorf("expiry line %v; want WARN with the certificate's not_after", m)
					}
				}
			}
			if warned != 1 {
				t.Errorf("%d expiry WARN lines at start; want 1", warned)
			}

			tc := &http.Client{Transport: &http.Transport{DisableKeepAlives: true, // each request a new handshake
				TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}} // the test checks the dates, not the chain
			gauges := func() (notBefore, notAfter float64) {
				t.Helper()
				if tt.handshake {
					res, err := tc.Get("https://" + n.addr + "/healthz")
					if err != nil {
						t.Fatal(err)
					}
					res.Body.Close()
				}
				res, err := http.Get("http://" + adminAddr + "/metrics")
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
			for i, step := range []struct {
				name                string
				notBefore, notAfter time.Time
			}{
				{"at start", now.Add(-80 * day), now.Add(10 * day)},
				{"renewed", now.Add(-time.Hour), now.Add(90 * day)},
				{"renewed again", now.Add(-time.Minute), now.Add(60 * day)},
			} {
				if step.name != "at start" {
					write(int64(i+1), step.notBefore, step.notAfter)
				}
				nb, na := gauges()
				if nb != unix(step.notBefore) || na != unix(step.notAfter) {
					t.Errorf("%s: gauges not_before %v, not_after %v; want %v, %v", step.name, nb, na, unix(step.notBefore), unix(step.notAfter))
				}
			}
		})
	}
}
