package server

import (
	"crypto/tls"
	"encoding/json"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sessiond/sessiond/internal/testenv"
)

// TestCertReloader_FailureLogThrottled: a pair that stays broken is
// logged at its first handshake, then once a minute with the count of
// handshakes that met it, not at every handshake; a new change of the
// files is logged at once.
func TestCertReloader_FailureLogThrottled(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	cp, kp := testenv.CertPEM(t, testenv.SelfSigned(t, 1, "127.0.0.1"))
	for path, b := range map[string][]byte{certFile: cp, keyFile: kp} {
		if err := os.WriteFile(path, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	logs := &testenv.SyncBuffer{}
	c, err := newCertReloader(certFile, keyFile, slog.New(slog.NewJSONHandler(logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	c.now = func() time.Time { return now }
	breakKey := func(content string) {
		t.Helper()
		if err := os.WriteFile(keyFile, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	handshakes := func(n int) {
		t.Helper()
		for range n {
			if cert, err := c.GetCertificate(nil); err != nil || cert == nil {
				t.Fatalf("GetCertificate = %v, %v; want the previous pair", cert, err)
			}
		}
	}
	// errorLines returns the repeated counts of the ERROR lines logged
	// since the last call.
	seen := 0
	errorLines := func() []int {
		t.Helper()
		var out []int
		lines := strings.Split(strings.TrimSpace(logs.String()), "\n")
		for _, l := range lines[seen:] {
			var m map[string]any
			if err := json.Unmarshal([]byte(l), &m); err != nil {
				t.Fatalf("log line %q: %v", l, err)
			}
			if m["level"] == "ERROR" {
				n, _ := m["repeated"].(float64)
				out = append(out, int(n))
			}
		}
		seen = len(lines)
		return out
	}
	errorLines()

	for _, step := range []struct {
		name string
		do   func()
		want []int // the repeated count of each ERROR line
	}{
		{"first failure logged at once", func() { breakKey("not a key"); handshakes(1) }, []int{0}},
		{"the same failure within the minute", func() { now = now.Add(30 * time.Second); handshakes(50) }, nil},
		{"a minute on, with the count", func() { now = now.Add(31 * time.Second); handshakes(3) }, []int{50}},
		{"the files change again", func() { breakKey("still not a key"); handshakes(2) }, []int{2}},
	} {
		step.do()
		if got := errorLines(); !slices.Equal(got, step.want) {
			t.Errorf("%s: ERROR lines with repeated = %v; want %v", step.name, got, step.want)
		}
	}
}

// TestCertReloader_BrokenPairReadOnce: while a broken pair stays as it
// is, a handshake reads neither file again (only their stamps): the
// failure is kept until the files' modification time, size or identity
// changes, or reloadRetryEvery passes, and the last good pair is served
// meanwhile. A change of either file, a rename over it included, is read
// at the next handshake.
func TestCertReloader_BrokenPairReadOnce(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	cp, kp := testenv.CertPEM(t, testenv.SelfSigned(t, 1, "127.0.0.1"))
	write := func(path string, b []byte) {
		t.Helper()
		if err := os.WriteFile(path, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(certFile, cp)
	write(keyFile, kp)
	c, err := newCertReloader(certFile, keyFile, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	c.now = func() time.Time { return now }
	good, _ := c.GetCertificate(nil)
	reads := 0
	c.load = func(certFile, keyFile string) (tls.Certificate, []error) {
		reads++
		return loadPair(certFile, keyFile)
	}
	handshakes := func(n int) {
		t.Helper()
		for range n {
			if cert, err := c.GetCertificate(nil); err != nil || cert != good {
				t.Fatalf("GetCertificate = %v, %v; want the last good pair", cert, err)
			}
		}
	}
	// renameOver replaces path by a new file (a new inode) with the same
	// content and modification time: only its identity changes.
	renameOver := func(path string) {
		t.Helper()
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		write(path+".tmp", b)
		if err := os.Chtimes(path+".tmp", fi.ModTime(), fi.ModTime()); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(path+".tmp", path); err != nil {
			t.Fatal(err)
		}
	}
	for _, step := range []struct {
		name string
		do   func()
		want int // reads of the pair
	}{
		{"the pair is broken", func() { write(keyFile, []byte("not a key")); handshakes(50) }, 1},
		{"it stays broken", func() { handshakes(50) }, 0},
		{"it stays broken past the retry", func() { now = now.Add(reloadRetryEvery); handshakes(50) }, 1},
		{"the key is written again, still broken", func() { write(keyFile, []byte("still not a key")); handshakes(20) }, 1},
		{"the key is renamed over, same time and size", func() { renameOver(keyFile); handshakes(20) }, 1},
		{"the certificate is renamed over", func() { renameOver(certFile); handshakes(20) }, 1},
	} {
		reads = 0
		step.do()
		if reads != step.want {
			t.Errorf("%s: the pair was read %d times; want %d", step.name, reads, step.want)
		}
	}
}

// TestCertReloader_FailureRetriedUnchanged: a renewal written in place
// can change a file's content without changing its stamps (the same size,
// within the filesystem's time granularity): a read that met it half
// written fails with the stamps the finished files keep. The failure is
// then not kept for good (the last good pair, maybe expiring, served until
// the files change again): the files are read again a while later.
func TestCertReloader_FailureRetriedUnchanged(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	write := func(c tls.Certificate) {
		t.Helper()
		cp, kp := testenv.CertPEM(t, c)
		for path, b := range map[string][]byte{certFile: cp, keyFile: kp} {
			if err := os.WriteFile(path, b, 0o600); err != nil {
				t.Fatal(err)
			}
		}
	}
	write(testenv.SelfSigned(t, 1, "127.0.0.1"))
	c, err := newCertReloader(certFile, keyFile, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	c.now = func() time.Time { return now }
	serial := func() int64 {
		t.Helper()
		cert, err := c.GetCertificate(nil)
		if err != nil {
			t.Fatal(err)
		}
		return cert.Leaf.SerialNumber.Int64()
	}
	// The renewal: its first read is torn, as if met half written.
	write(testenv.SelfSigned(t, 2, "127.0.0.1"))
	torn := true
	c.load = func(certFile, keyFile string) (tls.Certificate, []error) {
		if torn {
			torn = false
			return tls.Certificate{}, []error{errors.New("torn read")}
		}
		return loadPair(certFile, keyFile)
	}
	if got := serial(); got != 1 {
		t.Fatalf("at the torn read: serial %d; want the last good pair, 1", got)
	}
	now = now.Add(reloadRetryEvery)
	if got := serial(); got != 2 {
		t.Errorf("a while after a failed read of files that did not change since: serial %d; want the renewed pair, 2", got)
	}
}
