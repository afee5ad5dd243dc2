package testenv

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// SelfSigned returns a self-signed ECDSA P-256 server certificate with
// serial for hosts (DNS names or IP addresses; the first is its common
// name), valid from an hour ago for a day, with its key and parsed Leaf.
func SelfSigned(tb testing.TB, serial int64, hosts ...string) tls.Certificate {
	tb.Helper()
	return SelfSignedValid(tb, serial, time.Now().Add(-time.Hour), time.Now().Add(24*time.Hour), hosts...)
}

// SelfSignedValid is SelfSigned valid from notBefore to notAfter.
func SelfSignedValid(tb testing.TB, serial int64, notBefore, notAfter time.Time, hosts ...string) tls.Certificate {
	tb.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: hosts[0]},
		NotBefore: notBefore, NotAfter: notAfter,
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		tb.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		tb.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}
}

// CertPEM returns the certificate and the key of c (made by SelfSigned)
// as PEM, as tls_cert_file and tls_key_file hold them.
func CertPEM(tb testing.TB, c tls.Certificate) (certPEM, keyPEM []byte) {
	tb.Helper()
	kb, err := x509.MarshalECPrivateKey(c.PrivateKey.(*ecdsa.PrivateKey))
	if err != nil {
		tb.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Certificate[0]}),
		pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb})
}

// CertFiles returns the paths of a certificate file and its key file in a
// new temporary directory, not yet written: server.tls_cert_file and
// server.tls_key_file.
func CertFiles(tb testing.TB) (certFile, keyFile string) {
	tb.Helper()
	dir := tb.TempDir()
	return filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
}

// WriteCertPair writes c (made by SelfSigned or SelfSignedValid) and its
// key as PEM over certFile and keyFile, each to a temporary name then
// renamed, as renewal tools do: a reader never meets half a file.
func WriteCertPair(tb testing.TB, certFile, keyFile string, c tls.Certificate) {
	tb.Helper()
	cp, kp := CertPEM(tb, c)
	for _, f := range []struct {
		path string
		b    []byte
	}{{certFile, cp}, {keyFile, kp}} {
		if err := os.WriteFile(f.path+".tmp", f.b, 0o600); err != nil {
			tb.Fatal(err)
		}
		if err := os.Rename(f.path+".tmp", f.path); err != nil {
			tb.Fatal(err)
		}
	}
}
