package server

import (
	"bytes"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/sessiond/sessiond/internal/config"
)

// certReloader serves the certificate in server.tls_cert_file and
// server.tls_key_file, loading the pair again whenever either file's
// modification time, size or identity (a file renamed over it) changes,
// so a renewed certificate is served without a restart. It checks at each
// new handshake (two stat calls, next to a handshake's public-key
// operations); a pair that fails to load (a renewal half written) is
// logged and the previous one kept, and the failure stands, without
// reading the files again, until they change or reloadRetryEvery passes.
type certReloader struct {
	certFile, keyFile string
	log               *slog.Logger
	now               func() time.Time // dates the logs' throttles and the validity checks
	load              func(certFile, keyFile string) (tls.Certificate, []error)

	mu    sync.Mutex
	cert  *tls.Certificate
	seen  [2]fileStamp // of certFile and keyFile when cert was loaded
	tried [2]fileStamp // of the files the last reload read
	reads int          // counts the versions of the files read (not retries)
	// triedErr is why the files as tried did not load, nil if they did:
	// kept so that every handshake does not read and parse them again
	// while they stay broken; triedAt is when they were read.
	triedErr error
	triedAt  time.Time
	fail     reloadFailure
	expiry   expiryWarning
}

// reloadRetryEvery is how often files that failed to load are read again
// though their stamps did not change: a renewal written in place can
// change the content, not the stamps (the same size, within the time's
// granularity), and a read that met it half written would otherwise keep
// the last good pair, maybe expiring, until the files change again.
const reloadRetryEvery = time.Second

// reloadFailLogEvery is how often a reload failure that stands is logged
// again. Each TLS handshake tries the reload, so logging every failure
// would write an ERROR line per connection until the files are fixed.
const reloadFailLogEvery = time.Minute

// reloadFailure is what is logged of the failure that stands: the first
// line at once, and at once again when the files or the error change;
// otherwise one line per reloadFailLogEvery with the count of handshakes
// that met it unlogged.
type reloadFailure struct {
	key    string // the reload that read the files, and the error; "" while none
	logged time.Time
	muted  int
}

// expiryWarnWithin is how long before its NotAfter a served certificate
// is warned of: 14 days, or a quarter of its lifetime if shorter. ACME
// clients renew a 90-day certificate with 30 days left (certbot,
// cert-manager), and short-lived ones with a third of their lifetime
// left, so a certificate inside the window has missed days of renewals,
// or its renewal never reached this node; 14 days still leave two weeks
// to fix it, past a weekend or a CA's outage, and a year's certificate
// renewed by hand gets the same notice.
const expiryWarnWithin = 14 * 24 * time.Hour

// certState is where the served certificate stands in its validity, by
// this node's clock, as far as an operator must hear of it.
type certState int

const (
	certValid       certState = iota
	certNotYetValid           // NotBefore ahead: installed early, or this clock is behind
	certExpiring              // within its warning window
	certExpired
)

// validityWarnEvery is how often the warning of a certificate that stays
// in one state is logged again: once a day while it expires soon, once
// an hour while clients refuse it (expired, or not valid yet).
func validityWarnEvery(s certState) time.Duration {
	if s == certExpiring {
		return 24 * time.Hour
	}
	return time.Hour
}

// expiryWarning is what was logged of the served certificate's validity.
type expiryWarning struct {
	leaf   []byte // the certificate warned of (DER): the same one reloaded is not new
	state  certState
	logged time.Time
}

// warnValidity logs the served certificate's validity when it is not
// valid yet, within its expiry window or expired: at once for another
// certificate loaded or one whose state changed (just expired), otherwise
// once per validityWarnEvery (the same certificate written again, by a
// tool syncing the files, is not another). The caller holds c.mu, or has
// the only reference. The leaf's dates alone: a chain may carry an
// expired cross-signed root that clients ignore.
//
// Expired is an ERROR: every client with a right clock fails, and it
// only gets worse. Not valid yet is a WARN: it passes with time, and the
// node cannot tell a certificate installed early from its own clock
// behind (then clients accept it); the shipped alert judges by
// Prometheus's clock. The messages stay as they are: operators search
// for them (docs/operations.md).
func (c *certReloader) warnValidity() {
	if c.cert == nil || c.cert.Leaf == nil {
		return
	}
	leaf, now := c.cert.Leaf, c.now()
	left := leaf.NotAfter.Sub(now)
	state := certValid
	switch {
	case now.Before(leaf.NotBefore):
		state = certNotYetValid
	case left <= 0:
		state = certExpired
	case left <= min(expiryWarnWithin, leaf.NotAfter.Sub(leaf.NotBefore)/4):
		state = certExpiring
	}
	if state == certValid {
		return
	}
	w := c.expiry
	if bytes.Equal(w.leaf, leaf.Raw) && w.state == state && now.Sub(w.logged) < validityWarnEvery(state) {
		return
	}
	attrs := []any{"subject", leaf.Subject.String(), "serial", leaf.SerialNumber.String(), "file", c.certFile,
		"next_log_in", validityWarnEvery(state).String()}
	notAfter := []any{"not_after", leaf.NotAfter.UTC().Format(time.RFC3339)}
	switch state {
	case certNotYetValid:
		c.log.Warn("TLS certificate not yet valid; clients refuse it unless this node's clock is behind",
			append(attrs, "not_before", leaf.NotBefore.UTC().Format(time.RFC3339),
				"valid_in", leaf.NotBefore.Sub(now).Round(time.Second).String())...)
	case certExpired:
		c.log.Error("TLS certificate expired; clients refuse it",
			append(append(notAfter, attrs...), "expired_for", (-left).Round(time.Minute).String())...)
	case certExpiring:
		c.log.Warn("TLS certificate expires soon; renew it",
			append(append(notAfter, attrs...), "expires_in", left.Round(time.Minute).String())...)
	}
	c.expiry = expiryWarning{leaf: leaf.Raw, state: state, logged: now}
}

// Validity returns the served certificate's NotBefore and NotAfter (the
// sessiond_tls_certificate_* gauges), checking the files first as a
// handshake does: without it a node no TLS client reaches (a standby,
// /metrics scraped on the admin listener) would report the certificate
// loaded before a renewal until its next handshake, and the expiry
// alerts would fire on a renewed node. Safe for concurrent use.
func (c *certReloader) Validity() (notBefore, notAfter time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.check()
	if c.cert == nil || c.cert.Leaf == nil {
		return time.Time{}, time.Time{}
	}
	return c.cert.Leaf.NotBefore, c.cert.Leaf.NotAfter
}

// logFailure logs err unless the same failure was logged less than
// reloadFailLogEvery ago. The caller holds c.mu.
func (c *certReloader) logFailure(err error) {
	now := c.now()
	key := fmt.Sprint(c.reads, err)
	if key == c.fail.key && now.Sub(c.fail.logged) < reloadFailLogEvery {
		c.fail.muted++
		return
	}
	c.log.Error("TLS certificate reload failed; serving the previous one", "err", err,
		"repeated", c.fail.muted, "next_log_in", reloadFailLogEvery.String())
	c.fail = reloadFailure{key: key, logged: now}
}

// fileStamp tells whether a file may have changed: its modification
// time, size and identity (device and inode on Unix), so that a file
// renamed over it with the same time and size still counts as a change.
type fileStamp struct {
	fi os.FileInfo // nil: none
}

func stamp(path string) (fileStamp, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return fileStamp{}, err
	}
	return fileStamp{fi}, nil
}

func (a fileStamp) same(b fileStamp) bool {
	return a.fi != nil && b.fi != nil && a.fi.ModTime().Equal(b.fi.ModTime()) && a.fi.Size() == b.fi.Size() &&
		os.SameFile(a.fi, b.fi)
}

func sameStamps(a, b [2]fileStamp) bool { return a[0].same(b[0]) && a[1].same(b[1]) }

// newCertReloader loads the pair once; an error here stops the server.
func newCertReloader(certFile, keyFile string, log *slog.Logger) (*certReloader, error) {
	c := &certReloader{certFile: certFile, keyFile: keyFile, log: log, now: time.Now, load: loadPair}
	if err := c.reload(); err != nil {
		return nil, err
	}
	c.warnValidity()
	return c, nil
}

// reload loads the pair if the files changed. The caller holds c.mu, or
// has the only reference.
func (c *certReloader) reload() error {
	cs, err := stamp(c.certFile)
	if err != nil {
		return fmt.Errorf("server.tls_cert_file: %w", err)
	}
	ks, err := stamp(c.keyFile)
	if err != nil {
		return fmt.Errorf("server.tls_key_file: %w", err)
	}
	now := [2]fileStamp{cs, ks}
	if c.cert != nil && sameStamps(c.seen, now) {
		return nil
	}
	if c.triedErr != nil && sameStamps(c.tried, now) {
		if c.now().Sub(c.triedAt) < reloadRetryEvery {
			return c.triedErr
		}
	} else {
		c.reads++ // other files: their failure is logged at once
	}
	c.tried, c.triedAt = now, c.now()
	pair, errs := c.load(c.certFile, c.keyFile)
	if len(errs) > 0 {
		c.triedErr = errs[0]
		return errs[0]
	}
	c.cert, c.seen, c.triedErr, c.fail = &pair, now, nil, reloadFailure{}
	if pair.Leaf != nil {
		c.log.Info("TLS certificate loaded", "subject", pair.Leaf.Subject.String(),
			"not_after", pair.Leaf.NotAfter.UTC().Format(time.RFC3339), "serial", pair.Leaf.SerialNumber.String())
	}
	return nil
}

// loadPair reads and parses the certificate and key files, returning
// every problem: a file that cannot be read, each named, or a pair that
// does not parse or match. They are read as secret files are (bounded,
// regular files only, a FIFO not waited on): a reload runs under c.mu
// inside every TLS handshake, so a blocking open there would stall them
// all, and the start check (startcheck.go) lists every problem at once.
func loadPair(certFile, keyFile string) (tls.Certificate, []error) {
	var errs []error
	certPEM, err := config.ReadFileLimit(certFile, config.MaxCertFileSize)
	if err != nil {
		errs = append(errs, fmt.Errorf("server.tls_cert_file: %w", err))
	}
	keyPEM, err := config.ReadSecretFile(keyFile)
	if err != nil {
		errs = append(errs, fmt.Errorf("server.tls_key_file: %w", err))
	}
	if len(errs) > 0 {
		return tls.Certificate{}, errs
	}
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return tls.Certificate{}, []error{fmt.Errorf("server.tls_cert_file, server.tls_key_file: %w", err)}
	}
	return pair, nil
}

// check reloads the pair if the files changed, logging a failure, and
// warns of the served certificate's validity: at each handshake and each
// scrape. The caller holds c.mu.
func (c *certReloader) check() {
	if err := c.reload(); err != nil {
		c.logFailure(err)
	}
	c.warnValidity()
}

// GetCertificate is tls.Config.GetCertificate.
func (c *certReloader) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.check()
	if c.cert == nil {
		return nil, errors.New("no TLS certificate")
	}
	return c.cert, nil
}

var errTLSPair = errors.New("server.tls_cert_file and server.tls_key_file go together")

// tlsConfig returns the API listener's TLS configuration and the
// reloader serving its certificate, or nils when server.tls_cert_file is
// not set (plain HTTP).
func tlsConfig(cfg config.Config, log *slog.Logger) (*tls.Config, *certReloader, error) {
	s := cfg.Server
	if s.TLSCertFile == "" && s.TLSKeyFile == "" {
		return nil, nil, nil
	}
	if s.TLSCertFile == "" || s.TLSKeyFile == "" {
		return nil, nil, errTLSPair
	}
	r, err := newCertReloader(s.TLSCertFile, s.TLSKeyFile, log)
	if err != nil {
		return nil, nil, err
	}
	return &tls.Config{MinVersion: tls.VersionTLS12, GetCertificate: r.GetCertificate}, r, nil
}

// hsts is the Strict-Transport-Security of a listener that serves TLS
// itself: a year (ASVS 3.4.1 asks at least that) and this host's
// subdomains. It names no other host: HSTS binds only the host that sent it.
const hsts = "max-age=31536000; includeSubDomains"

// withHSTS tells browsers to reach this host over HTTPS only from now on
// (RFC 6797), so a session cookie never travels over plain HTTP after a
// downgrade. Only a TLS listener may say it (RFC 6797 §7.2); behind a proxy
// that terminates TLS, the proxy sends it (docs/deployment.md).
func withHSTS(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Strict-Transport-Security", hsts)
		h.ServeHTTP(w, r)
	})
}
