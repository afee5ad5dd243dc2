// Package loopback says whether a host named in a URL or DSN is this
// machine, for the warnings sessiond gives about connections that cross a
// network without verified TLS (the PostgreSQL and Redis stores, the Go
// verifier): traffic to this machine crosses no network.
package loopback

import (
	"net/netip"
	"strings"
)

// Host reports whether host (a hostname or an IP address, without
// brackets or port) is this machine: localhost, with or without the
// trailing dot of a fully qualified name (RFC 6761 §6.3), or a loopback
// address, IPv4-mapped ones included.
func Host(host string) bool {
	if strings.EqualFold(strings.TrimSuffix(host, "."), "localhost") {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.Unmap().IsLoopback()
}
