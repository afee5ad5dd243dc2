package httpapi

import "net"

// unsentLow is how much written data a connection of ProgressListener
// keeps in the kernel not yet sent: a few of progressWriter's writes.
const unsentLow = 16 << 10

// ProgressListener returns ln, whose TCP connections keep at most
// unsentLow bytes written but not yet sent (TCP_NOTSENT_LOWAT, on Linux;
// elsewhere ln as it is). Serve the API through it. Without it a write to
// a client that reads slowly waits until about a third of the socket's
// send buffer has drained (up to 4 MB, autotuned), not until the client
// has taken in what it writes, so that the snapshot's per-write deadline
// (progressWriter) dropped a client reading 300 KB a second under a
// write_timeout of 2 s, where it promises to keep one that reads 4 KiB
// each write_timeout. What is in flight is not bounded: a fast client
// over a long link is not slowed.
func ProgressListener(ln net.Listener) net.Listener { return progressListener{ln} }

type progressListener struct{ net.Listener }

func (l progressListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		holdBack(c)
	}
	return c, err
}
