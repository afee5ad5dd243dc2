package redisstore

import (
	"context"
	"crypto/tls"
	"log/slog"
	"net"
	"strings"
	"sync"

	"github.com/redis/rueidis"
	"github.com/sessiond/sessiond/internal/loopback"
)

// transportWarning is logged for each host reached over the network without
// verified TLS, with its host and risk: once per host, never the URL (it
// may hold the password).
const transportWarning = "redisstore: the connection to Redis is not protected by verified TLS: anyone on the network path can read and alter sessions, token hashes, API key hashes and the signing keys; use rediss:// without skip_verify"

// transportWatch warns of the hosts Redis is reached at over the network
// without verified TLS: those of the URL before connecting (so that a
// store that cannot be reached yet is reported too), and those the client
// dials later, which the URL does not name: the nodes a Cluster announces
// (CLUSTER SHARDS, at start and whenever its layout changes), and with
// rueidis's master_set the master a Sentinel names and the Sentinels
// themselves (dialed without TLS whatever the URL's scheme). A seed on
// loopback or reached over TLS says nothing about those. Each host is
// named once, however many connections go to it. Safe for concurrent use:
// rueidis dials from its own goroutines.
type transportWatch struct {
	log    *slog.Logger
	mu     sync.Mutex
	warned map[string]bool
}

func newTransportWatch(log *slog.Logger) *transportWatch {
	return &transportWatch{log: log, warned: map[string]bool{}}
}

// checkURL warns of every address of co (the URL's) at risk.
func (w *transportWatch) checkURL(co rueidis.ClientOption) {
	for _, addr := range co.InitAddress {
		w.check(addr, co.TLSConfig)
	}
}

// dialer returns a ClientOption.DialCtxFn that checks each address it is
// asked for, with the TLS configuration rueidis dials it with, before
// next dials it.
func (w *transportWatch) dialer(next dialFn) dialFn {
	return func(ctx context.Context, dst string, d *net.Dialer, tc *tls.Config) (net.Conn, error) {
		w.check(dst, tc)
		return next(ctx, dst, d, tc)
	}
}

// check warns of addr, reached with tc, unless it is safe or its host was
// named already.
func (w *transportWatch) check(addr string, tc *tls.Config) {
	host, risk := transportRisk(addr, tc)
	if risk == "" {
		return
	}
	w.mu.Lock()
	seen := w.warned[host]
	w.warned[host] = true
	w.mu.Unlock()
	if !seen {
		w.log.Warn(transportWarning, "host", host, "risk", risk)
	}
}

// transportRisk names the host of addr and how it is reached over the
// network without verified TLS: "plaintext" (redis://, valkey://, or a
// Sentinel) or "TLS certificate not verified" (rediss:// with
// skip_verify, which rueidis maps to InsecureSkipVerify). A Unix socket
// (unix://) or a loopback address never leaves the machine: risk "".
func transportRisk(addr string, tc *tls.Config) (host, risk string) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		host = addr // a Unix socket's path
	}
	switch {
	case local(host):
		return host, ""
	case tc == nil:
		return host, "plaintext"
	case tc.InsecureSkipVerify:
		return host, "TLS certificate not verified"
	}
	return host, ""
}

// local: "localhost." is localhost fully qualified (RFC 6761 §6.3).
func local(host string) bool {
	return strings.HasPrefix(host, "/") || loopback.Host(host) // a Unix socket's path, or this machine
}
