package testenv

import (
	"net"
	"testing"
)

// HostAddr returns an IPv4 address of this machine that is not loopback,
// for a test whose server must be reached as another host would reach it
// (a connection that crosses a network). It skips tb, or fails it when
// Required, on a machine with none.
func HostAddr(tb testing.TB) string {
	tb.Helper()
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		tb.Fatal(err)
	}
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && !n.IP.IsLoopback() && !n.IP.IsLinkLocalUnicast() && n.IP.To4() != nil {
			return n.IP.String()
		}
	}
	SkipOrFail(tb, "no IPv4 address of this machine other than loopback")
	return ""
}
