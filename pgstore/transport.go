package pgstore

import (
	"crypto/tls"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/sessiond/sessiond/internal/loopback"
)

// transportRisk names the first host cfg may reach over the network
// without verified TLS, and how: "plaintext" (sslmode disable), "TLS
// certificate not verified" (require without sslrootcert), or both, for
// allow and prefer (libpq's and pgx's default), which try one and then the
// other, so that whoever is on the path picks plaintext. pgx maps those
// modes to InsecureSkipVerify with no check of its own; verify-ca checks
// the chain in VerifyPeerCertificate, verify-full the name too. A Unix
// socket or a loopback address never leaves the machine. ("", "") when
// every way is safe.
func transportRisk(cfg *pgx.ConnConfig) (host, risk string) {
	type way struct {
		host string
		tls  *tls.Config
	}
	ways := []way{{cfg.Host, cfg.TLSConfig}}
	for _, f := range cfg.Fallbacks {
		ways = append(ways, way{f.Host, f.TLSConfig})
	}
	var plain, unverified bool
	for _, w := range ways {
		if local(w.host) || host != "" && w.host != host {
			continue
		}
		switch {
		case w.tls == nil:
			host, plain = w.host, true
		case w.tls.InsecureSkipVerify && w.tls.VerifyPeerCertificate == nil:
			host, unverified = w.host, true
		}
	}
	switch {
	case plain && unverified:
		return host, "plaintext, or TLS with its certificate not verified (sslmode allow or prefer, the default)"
	case plain:
		return host, "plaintext"
	case unverified:
		return host, "TLS certificate not verified"
	}
	return "", ""
}

// local: "localhost." is localhost fully qualified (RFC 6761 §6.3).
func local(host string) bool {
	return strings.HasPrefix(host, "/") || loopback.Host(host) // a Unix socket's path, or this machine
}
