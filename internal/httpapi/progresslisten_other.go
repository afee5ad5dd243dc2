//go:build !linux

package httpapi

import "net"

// holdBack does nothing here: only Linux is known to have
// TCP_NOTSENT_LOWAT under that number.
func holdBack(net.Conn) {}
