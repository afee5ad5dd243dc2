package redisstore

import (
	"net"
	"strings"

	"github.com/redis/rueidis"
	"github.com/sessiond/sessiond/internal/loopback"
)

// transportRisk names the first address co reaches over the network
// without verified TLS, and how: "plaintext" (redis://, valkey://) or
// "TLS certificate not verified" (rediss:// with skip_verify, which
// rueidis maps to InsecureSkipVerify). A Unix socket (unix://) or a
// loopback address never leaves the machine. ("", "") when every address
// is safe.
func transportRisk(co rueidis.ClientOption) (host, risk string) {
	for _, addr := range co.InitAddress {
		h, _, err := net.SplitHostPort(addr)
		if err != nil {
			h = addr // a Unix socket's path
		}
		if local(h) {
			continue
		}
		switch {
		case co.TLSConfig == nil:
			return h, "plaintext"
		case co.TLSConfig.InsecureSkipVerify:
			return h, "TLS certificate not verified"
		}
	}
	return "", ""
}

// local: "localhost." is localhost fully qualified (RFC 6761 §6.3).
func local(host string) bool {
	return strings.HasPrefix(host, "/") || loopback.Host(host) // a Unix socket's path, or this machine
}
