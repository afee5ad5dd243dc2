package server

import (
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sessiond/sessiond/internal/testenv"
)

const (
	expiringMsg = "TLS certificate expires soon; renew it"
	expiredMsg  = "TLS certificate expired; clients refuse it"
)

// writeValidPair writes a certificate valid from notBefore to notAfter,
// with its key, as renewal tools do (temporary names, then rename).
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

// warnLines returns the msg of each WARN line of logs from line *seen on,
// and moves *seen past them.
func warnLines(t *testing.T, logs *testenv.SyncBuffer, seen *int) []string {
	t.Helper()
	var out []string
	lines := strings.Split(strings.TrimSpace(logs.String()), "\n")
	for _, l := range lines[*seen:] {
		if l == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("log line %q: %v", l, err)
		}
		if m["level"] == "WARN" {
			out = append(out, m["msg"].(string))
		}
	}
	*seen = len(lines)
	return out
}

// TestCertReloader_ExpiryWarningAtStart: a certificate expired, or within
// its warning window (14 days, or a quarter of its lifetime when that is
// shorter: a short-lived certificate renewed at a third of its lifetime
// left is not warned of), is logged at WARN when it is loaded; one with
// more time left is not. Its validity is what the metrics report.
func TestCertReloader_ExpiryWarningAtStart(t *testing.T) {
	now := time.Now()
	day := 24 * time.Hour
	cases := []struct {
		name                string
		notBefore, notAfter time.Time
		want                []string
	}{
		{"90 days, 20 left", now.Add(-70 * day), now.Add(20 * day), nil},
		{"90 days, 15 left", now.Add(-75 * day), now.Add(15 * day), nil},
		{"90 days, 13 left", now.Add(-77 * day), now.Add(13 * day), []string{expiringMsg}},
		{"a year, 2 left", now.Add(-363 * day), now.Add(2 * day), []string{expiringMsg}},
		{"expired yesterday", now.Add(-91 * day), now.Add(-day), []string{expiredMsg}},
		{"6 days, 2 left", now.Add(-4 * day), now.Add(2 * day), nil},
		{"6 days, 1 left", now.Add(-5 * day), now.Add(day), []string{expiringMsg}},
		{"24 hours, 12 left", now.Add(-12 * time.Hour), now.Add(12 * time.Hour), nil},
		{"24 hours, 5 left", now.Add(-19 * time.Hour), now.Add(5 * time.Hour), []string{expiringMsg}},
	}
	for _, tt := range cases {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
			writeValidPair(t, 1, tt.notBefore, tt.notAfter, certFile, keyFile)
			logs := &testenv.SyncBuffer{}
			c, err := newCertReloader(certFile, keyFile, slog.New(slog.NewJSONHandler(logs, nil)))
			if err != nil {
				t.Fatal(err)
			}
			seen := 0
			if got := warnLines(t, logs, &seen); !slices.Equal(got, tt.want) {
				t.Errorf("WARN lines %q; want %q", got, tt.want)
			}
			nb, na := c.Validity()
			if !nb.Equal(tt.notBefore.Truncate(time.Second)) || !na.Equal(tt.notAfter.Truncate(time.Second)) {
				t.Errorf("Validity = %v, %v; want %v, %v", nb, na, tt.notBefore, tt.notAfter)
			}
		})
	}
}

// TestCertReloader_ExpiryWarningReload: the warning follows the served
// certificate as the node runs: given at the first handshake after the
// certificate enters its window, then once a day while it stays there
// (once an hour once expired), at once for a reloaded certificate that is
// itself close to expiry or when the certificate expires, not again for
// the same certificate written again, and not for a renewed one. Validity follows each reload.
func TestCertReloader_ExpiryWarningReload(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	t0 := time.Now()
	day := 24 * time.Hour
	writeValidPair(t, 1, t0.Add(-70*day), t0.Add(20*day), certFile, keyFile)
	logs := &testenv.SyncBuffer{}
	c, err := newCertReloader(certFile, keyFile, slog.New(slog.NewJSONHandler(logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	now := t0
	c.now = func() time.Time { return now }
	handshakes := func(n int) {
		t.Helper()
		for range n {
			if cert, err := c.GetCertificate(nil); err != nil || cert == nil {
				t.Fatalf("GetCertificate = %v, %v", cert, err)
			}
		}
	}
	seen := 0
	if got := warnLines(t, logs, &seen); len(got) != 0 {
		t.Fatalf("WARN lines at start %q; want none", got)
	}
	var served time.Time // NotAfter of the pair last written
	for _, step := range []struct {
		name string
		do   func()
		want []string
	}{
		{"20 days left", func() { handshakes(5) }, nil},
		{"into the window", func() { now = t0.Add(7 * day); handshakes(5) }, []string{expiringMsg}},
		{"the same day", func() { now = now.Add(23 * time.Hour); handshakes(50) }, nil},
		{"a day on", func() { now = now.Add(time.Hour); handshakes(3) }, []string{expiringMsg}},
		{"reloaded, itself close to expiry", func() {
			served = now.Add(5 * day)
			writeValidPair(t, 2, now.Add(-80*day), served, certFile, keyFile)
			handshakes(3)
		}, []string{expiringMsg}},
		{"the same pair written again", func() {
			for _, path := range []string{certFile, keyFile} {
				b, err := os.ReadFile(path)
				if err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path+".tmp", b, 0o600); err != nil {
					t.Fatal(err)
				}
				if err := os.Rename(path+".tmp", path); err != nil {
					t.Fatal(err)
				}
			}
			reads := c.reads
			handshakes(3)
			if c.reads == reads {
				t.Fatal("the pair written again was not reloaded")
			}
		}, nil},
		{"half an hour before its end", func() { now = now.Add(4*day + 23*time.Hour + 30*time.Minute); handshakes(3) }, []string{expiringMsg}},
		// Within the hour of that warning: expiring is news all the same.
		{"expired", func() { now = now.Add(31 * time.Minute); handshakes(3) }, []string{expiredMsg}},
		{"expired, within the hour", func() { now = now.Add(59 * time.Minute); handshakes(20) }, nil},
		{"expired, an hour on", func() { now = now.Add(time.Minute); handshakes(1) }, []string{expiredMsg}},
		{"renewed", func() {
			served = now.Add(90 * day)
			writeValidPair(t, 3, now.Add(-time.Hour), served, certFile, keyFile)
			handshakes(3)
		}, nil},
		{"renewed, a day on", func() { now = now.Add(day); handshakes(3) }, nil},
	} {
		step.do()
		if got := warnLines(t, logs, &seen); !slices.Equal(got, step.want) {
			t.Errorf("%s: WARN lines %q; want %q", step.name, got, step.want)
		}
		if !served.IsZero() {
			if _, na := c.Validity(); !na.Equal(served.Truncate(time.Second)) {
				t.Errorf("%s: Validity's NotAfter = %v; want %v", step.name, na, served)
			}
		}
	}
}
