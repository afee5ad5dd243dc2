package server

import (
	"fmt"
	"log/slog"
	"os"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/sessiond/sessiond/internal/testenv"
)

// The validity lines, as "LEVEL msg": an expired certificate is an
// ERROR (clients are failing and it only gets worse); one expiring soon,
// or not valid yet (which passes with time, and may be this node's clock),
// a WARN.
const (
	expiringLine    = "WARN TLS certificate expires soon; renew it"
	expiredLine     = "ERROR TLS certificate expired; clients refuse it"
	notYetValidLine = "WARN TLS certificate not yet valid; clients refuse it unless this node's clock is behind"
)

// writeValidPair writes a certificate for 127.0.0.1 valid from notBefore
// to notAfter, with its key, over certFile and keyFile.
func writeValidPair(t *testing.T, serial int64, notBefore, notAfter time.Time, certFile, keyFile string) {
	t.Helper()
	testenv.WriteCertPair(t, certFile, keyFile, testenv.SelfSignedValid(t, serial, notBefore, notAfter, "127.0.0.1"))
}

// warnLines returns each WARN and ERROR line of logs from record *seen on,
// as "LEVEL msg", and moves *seen past them.
func warnLines(t *testing.T, logs *testenv.SyncBuffer, seen *int) []string {
	t.Helper()
	var out []string
	recs := logs.Records(t)
	for _, m := range recs[*seen:] {
		if m["level"] == "WARN" || m["level"] == "ERROR" {
			out = append(out, m["level"].(string)+" "+m["msg"].(string))
		}
	}
	*seen = len(recs)
	return out
}

// TestCertReloader_ExpiryWarningAtStart: a certificate within its
// warning window (14 days, or a quarter of its lifetime when that is
// shorter: a short-lived certificate renewed at a third of its lifetime
// left is not warned of) is logged at WARN when it is loaded, an expired
// one at ERROR, one not valid yet (NotBefore ahead) at WARN; one with
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
		{"90 days, 13 left", now.Add(-77 * day), now.Add(13 * day), []string{expiringLine}},
		{"a year, 2 left", now.Add(-363 * day), now.Add(2 * day), []string{expiringLine}},
		{"expired yesterday", now.Add(-91 * day), now.Add(-day), []string{expiredLine}},
		{"6 days, 2 left", now.Add(-4 * day), now.Add(2 * day), nil},
		{"6 days, 1 left", now.Add(-5 * day), now.Add(day), []string{expiringLine}},
		{"24 hours, 12 left", now.Add(-12 * time.Hour), now.Add(12 * time.Hour), nil},
		{"24 hours, 5 left", now.Add(-19 * time.Hour), now.Add(5 * time.Hour), []string{expiringLine}},
		{"valid in an hour", now.Add(time.Hour), now.Add(90 * day), []string{notYetValidLine}},
		{"valid in a day, short-lived", now.Add(day), now.Add(2 * day), []string{notYetValidLine}},
		{"valid a minute ago", now.Add(-time.Minute), now.Add(90 * day), nil},
	}
	for _, tt := range cases {
		t.Run(tt.name, func(t *testing.T) {
			certFile, keyFile := testenv.CertFiles(t)
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
// the same certificate written again, and not for a renewed one; a
// certificate not valid yet is warned of at once, then once an hour until
// it is valid. Validity follows each reload.
func TestCertReloader_ExpiryWarningReload(t *testing.T) {
	certFile, keyFile := testenv.CertFiles(t)
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
		{"into the window", func() { now = t0.Add(7 * day); handshakes(5) }, []string{expiringLine}},
		{"the same day", func() { now = now.Add(23 * time.Hour); handshakes(50) }, nil},
		{"a day on", func() { now = now.Add(time.Hour); handshakes(3) }, []string{expiringLine}},
		{"reloaded, itself close to expiry", func() {
			served = now.Add(5 * day)
			writeValidPair(t, 2, now.Add(-80*day), served, certFile, keyFile)
			handshakes(3)
		}, []string{expiringLine}},
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
		{"half an hour before its end", func() { now = now.Add(4*day + 23*time.Hour + 30*time.Minute); handshakes(3) }, []string{expiringLine}},
		// Within the hour of that warning: expiring is news all the same.
		{"expired", func() { now = now.Add(31 * time.Minute); handshakes(3) }, []string{expiredLine}},
		{"expired, within the hour", func() { now = now.Add(59 * time.Minute); handshakes(20) }, nil},
		{"expired, an hour on", func() { now = now.Add(time.Minute); handshakes(1) }, []string{expiredLine}},
		{"renewed", func() {
			served = now.Add(90 * day)
			writeValidPair(t, 3, now.Add(-time.Hour), served, certFile, keyFile)
			handshakes(3)
		}, nil},
		{"renewed, a day on", func() { now = now.Add(day); handshakes(3) }, nil},
		{"reloaded, not valid for two hours", func() {
			served = now.Add(90 * day)
			writeValidPair(t, 4, now.Add(2*time.Hour), served, certFile, keyFile)
			handshakes(3)
		}, []string{notYetValidLine}},
		{"not valid yet, within the hour", func() { now = now.Add(59 * time.Minute); handshakes(20) }, nil},
		{"not valid yet, an hour on", func() { now = now.Add(time.Minute); handshakes(1) }, []string{notYetValidLine}},
		{"valid", func() { now = now.Add(61 * time.Minute); handshakes(3) }, nil},
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

// TestCertReloader_ValidityWithoutHandshakes: Validity (a scrape of the
// gauges) checks the files itself, as a handshake does: on a node no TLS
// client reaches (a standby, or /metrics on the admin listener) the
// gauges report the certificate the files hold from its reload on, not
// the one loaded before, and its warning is logged all the same. A pair
// that does not load leaves the previous one, still served, reported.
func TestCertReloader_ValidityWithoutHandshakes(t *testing.T) {
	certFile, keyFile := testenv.CertFiles(t)
	now := time.Now().Truncate(time.Second)
	day := 24 * time.Hour
	writeValidPair(t, 1, now.Add(-80*day), now.Add(10*day), certFile, keyFile)
	logs := &testenv.SyncBuffer{}
	c, err := newCertReloader(certFile, keyFile, slog.New(slog.NewJSONHandler(logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	seen := 0
	if got := warnLines(t, logs, &seen); !slices.Equal(got, []string{expiringLine}) {
		t.Fatalf("WARN lines at start %q; want %q", got, expiringLine)
	}
	for _, step := range []struct {
		name                string
		write               func()
		notBefore, notAfter time.Time
		want                []string
	}{
		{"renewed", func() { writeValidPair(t, 2, now.Add(-time.Hour), now.Add(90*day), certFile, keyFile) },
			now.Add(-time.Hour), now.Add(90 * day), nil},
		{"a key of another pair", func() {
			_, kp := testenv.CertPEM(t, testenv.SelfSigned(t, 3, "127.0.0.1"))
			if err := os.WriteFile(keyFile+".tmp", kp, 0o600); err != nil {
				t.Fatal(err)
			}
			if err := os.Rename(keyFile+".tmp", keyFile); err != nil { // a new file: its stamp differs
				t.Fatal(err)
			}
		}, now.Add(-time.Hour), now.Add(90 * day), []string{"ERROR TLS certificate reload failed; serving the previous one"}},
		{"expired pair", func() { writeValidPair(t, 4, now.Add(-90*day), now.Add(-day), certFile, keyFile) },
			now.Add(-90 * day), now.Add(-day), []string{expiredLine}},
		{"pair not valid yet", func() { writeValidPair(t, 5, now.Add(day), now.Add(91*day), certFile, keyFile) },
			now.Add(day), now.Add(91 * day), []string{notYetValidLine}},
	} {
		step.write()
		nb, na := c.Validity()
		if !nb.Equal(step.notBefore) || !na.Equal(step.notAfter) {
			t.Errorf("%s: Validity = %v, %v; want %v, %v", step.name, nb, na, step.notBefore, step.notAfter)
		}
		if got := warnLines(t, logs, &seen); !slices.Equal(got, step.want) {
			t.Errorf("%s: WARN and ERROR lines %q; want %q", step.name, got, step.want)
		}
	}
}

// TestCertReloader_ScrapesDuringHandshakes: a scrape (Validity) now
// reloads the files as a handshake does, from another goroutine, so both
// share the reloader's lock: scrapes and handshakes running together
// while the pair is renewed each see one whole certificate (both dates
// of a pair written), and the last pair written at the end. Without the
// lock in Validity, go test -race reports the scrape's reload against
// the handshakes'.
func TestCertReloader_ScrapesDuringHandshakes(t *testing.T) {
	certFile, keyFile := testenv.CertFiles(t)
	now := time.Now().Truncate(time.Second)
	day := 24 * time.Hour
	const renewals = 20
	// Pair i is valid from now-i hours for 30+i days: its dates tell it.
	dates := func(i int) (time.Time, time.Time) {
		return now.Add(-time.Duration(i) * time.Hour), now.Add(time.Duration(30+i) * day)
	}
	nb, na := dates(0)
	writeValidPair(t, 1, nb, na, certFile, keyFile)
	c, err := newCertReloader(certFile, keyFile, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	written := map[[2]int64]bool{{nb.Unix(), na.Unix()}: true}
	for i := 1; i <= renewals; i++ {
		nb, na := dates(i)
		written[[2]int64{nb.Unix(), na.Unix()}] = true
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	var seenMu sync.Mutex
	var torn []string
	for range 2 {
		wg.Add(2)
		go func() { // handshakes
			defer wg.Done()
			for {
				select {
				case <-done:
					return
				default:
				}
				if cert, err := c.GetCertificate(nil); err != nil || cert == nil {
					seenMu.Lock()
					torn = append(torn, fmt.Sprintf("GetCertificate = %v, %v", cert, err))
					seenMu.Unlock()
				}
			}
		}()
		go func() { // scrapes
			defer wg.Done()
			for {
				select {
				case <-done:
					return
				default:
				}
				nb, na := c.Validity()
				if !written[[2]int64{nb.Unix(), na.Unix()}] {
					seenMu.Lock()
					torn = append(torn, fmt.Sprintf("Validity = %v, %v", nb, na))
					seenMu.Unlock()
				}
			}
		}()
	}
	for i := 1; i <= renewals; i++ {
		nb, na := dates(i)
		writeValidPair(t, int64(i+1), nb, na, certFile, keyFile)
	}
	close(done)
	wg.Wait()
	if len(torn) > 0 {
		t.Errorf("%d answers of no pair written, first %s", len(torn), torn[0])
	}
	wantNB, wantNA := dates(renewals)
	if nb, na := c.Validity(); !nb.Equal(wantNB) || !na.Equal(wantNA) {
		t.Errorf("Validity at the end = %v, %v; want the last pair's %v, %v", nb, na, wantNB, wantNA)
	}
}
