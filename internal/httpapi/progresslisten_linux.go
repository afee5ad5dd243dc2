package httpapi

import (
	"net"

	"golang.org/x/sys/unix"
)

// holdBack sets c's TCP_NOTSENT_LOWAT to unsentLow; a connection that is
// not TCP, or refuses it, stays as it is (the deadline is then looser).
func holdBack(c net.Conn) {
	tc, ok := c.(*net.TCPConn)
	if !ok {
		return
	}
	raw, err := tc.SyscallConn()
	if err != nil {
		return
	}
	_ = raw.Control(func(fd uintptr) {
		_ = unix.SetsockoptInt(int(fd), unix.IPPROTO_TCP, unix.TCP_NOTSENT_LOWAT, unsentLow)
	})
}
