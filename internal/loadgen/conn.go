package loadgen

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// target is where requests go: the server's address and the fixed part of
// every request's header.
type target struct {
	addr    string      // host:port to dial
	tls     *tls.Config // nil for http
	prefix  string      // path prefix of the base URL, without trailing slash
	headers []byte      // Host, Authorization, Content-Type, User-Agent lines
	timeout time.Duration
}

func newTarget(base string, apiKey string, timeout time.Duration) (*target, error) {
	u, err := url.Parse(base)
	switch {
	case err != nil:
		return nil, fmt.Errorf("%w: URL does not parse", ErrInvalidOptions)
	case u.Scheme != "http" && u.Scheme != "https":
		return nil, fmt.Errorf("%w: URL must be http or https", ErrInvalidOptions)
	case u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "":
		return nil, fmt.Errorf("%w: URL must have a host and no user info, query or fragment", ErrInvalidOptions)
	}
	t := &target{addr: u.Host, prefix: trimSlash(u.EscapedPath()), timeout: timeout}
	if u.Port() == "" {
		port := "80"
		if u.Scheme == "https" {
			port = "443"
		}
		t.addr = net.JoinHostPort(u.Hostname(), port)
	}
	if u.Scheme == "https" {
		t.tls = &tls.Config{ServerName: u.Hostname(), MinVersion: tls.VersionTLS12}
	}
	var h bytes.Buffer
	fmt.Fprintf(&h, "Host: %s\r\n", u.Host)
	if apiKey != "" {
		fmt.Fprintf(&h, "Authorization: Bearer %s\r\n", apiKey)
	}
	h.WriteString("Content-Type: application/json\r\nUser-Agent: sessiond-bench\r\n")
	t.headers = h.Bytes()
	return t, nil
}

func trimSlash(p string) string {
	for len(p) > 0 && p[len(p)-1] == '/' {
		p = p[:len(p)-1]
	}
	return p
}

// conn is one keep-alive HTTP/1.1 connection, used by one worker at a time.
// It writes each request in one call from a prepared buffer and parses the
// answer with net/http's reader, without a Transport's pool, goroutines
// and channels, so that the load generator costs the server's machine as
// little CPU as possible.
type conn struct {
	t    *target
	c    net.Conn
	br   *bufio.Reader
	req  []byte
	body bytes.Buffer
}

func (t *target) newConn() *conn { return &conn{t: t} }

func (c *conn) dial(ctx context.Context) error {
	d := net.Dialer{Timeout: c.t.timeout}
	nc, err := d.DialContext(ctx, "tcp", c.t.addr)
	if err != nil {
		return err
	}
	if c.t.tls != nil {
		tc := tls.Client(nc, c.t.tls)
		if err := tc.HandshakeContext(ctx); err != nil {
			nc.Close()
			return err
		}
		nc = tc
	}
	c.c = nc
	if c.br == nil {
		c.br = bufio.NewReaderSize(nc, 16<<10)
	} else {
		c.br.Reset(nc)
	}
	return nil
}

func (c *conn) close() {
	if c.c != nil {
		c.c.Close()
		c.c = nil
	}
}

// errTransport marks a failure below HTTP: dial, write, read, or a
// malformed answer. The connection is closed and redialled next time.
var errTransport = errors.New("transport")

// post sends a POST of body to path and returns the status and the answer's
// body, valid until the next call.
func (c *conn) post(ctx context.Context, path string, body []byte) (int, []byte, error) {
	if c.c == nil {
		if err := c.dial(ctx); err != nil {
			return 0, nil, fmt.Errorf("%w: %v", errTransport, err)
		}
	}
	c.req = append(c.req[:0], "POST "...)
	c.req = append(c.req, c.t.prefix...)
	c.req = append(c.req, path...)
	c.req = append(c.req, " HTTP/1.1\r\n"...)
	c.req = append(c.req, c.t.headers...)
	c.req = append(c.req, "Content-Length: "...)
	c.req = strconv.AppendInt(c.req, int64(len(body)), 10)
	c.req = append(c.req, "\r\n\r\n"...)
	c.req = append(c.req, body...)
	if c.t.timeout > 0 {
		c.c.SetDeadline(time.Now().Add(c.t.timeout))
	}
	if _, err := c.c.Write(c.req); err != nil {
		c.close()
		return 0, nil, fmt.Errorf("%w: %v", errTransport, err)
	}
	resp, err := http.ReadResponse(c.br, nil)
	if err != nil {
		c.close()
		return 0, nil, fmt.Errorf("%w: %v", errTransport, err)
	}
	c.body.Reset()
	_, err = c.body.ReadFrom(io.LimitReader(resp.Body, 1<<20))
	resp.Body.Close()
	if err != nil {
		c.close()
		return 0, nil, fmt.Errorf("%w: %v", errTransport, err)
	}
	if resp.Close || c.body.Len() == 1<<20 { // closed by the server, or an answer too large to drain
		c.close()
	}
	return resp.StatusCode, c.body.Bytes(), nil
}
