package testenv

import (
	"bytes"
	"crypto/tls"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestWriteCertPair: the files written load as the pair given, dated as
// asked, with no temporary file left beside them; written again, they
// hold the new pair.
func TestWriteCertPair(t *testing.T) {
	certFile, keyFile := CertFiles(t)
	if filepath.Dir(certFile) != filepath.Dir(keyFile) || certFile == keyFile {
		t.Fatalf("CertFiles = %q, %q; want two names in one directory", certFile, keyFile)
	}
	nb := time.Now().Add(time.Hour).Truncate(time.Second)
	na := nb.Add(90 * 24 * time.Hour)
	for serial := range int64(2) {
		c := SelfSignedValid(t, serial+1, nb, na, "127.0.0.1")
		WriteCertPair(t, certFile, keyFile, c)
		got, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got.Certificate[0], c.Certificate[0]) {
			t.Errorf("serial %d: the files hold another certificate", serial+1)
		}
		if !got.Leaf.NotBefore.Equal(nb) || !got.Leaf.NotAfter.Equal(na) {
			t.Errorf("serial %d: valid %v to %v; want %v to %v", serial+1, got.Leaf.NotBefore, got.Leaf.NotAfter, nb, na)
		}
	}
	entries, err := os.ReadDir(filepath.Dir(certFile))
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 2 {
		t.Errorf("%d files in the directory; want the 2 written", len(entries))
	}
}
