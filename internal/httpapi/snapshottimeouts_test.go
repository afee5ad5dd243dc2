package httpapi_test

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/internal/httpapi"
	"github.com/sessiond/sessiond/verifier/stream"
)

// smallBuffers keeps the socket buffers of the connections it accepts
// small, so that a client that reads slowly holds the server's writes
// back at once, not after megabytes.
type smallBuffers struct{ net.Listener }

func (l smallBuffers) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetWriteBuffer(64 << 10)
	}
	return c, err
}

// slowSnapshotServer serves a snapshot of n revocations, about 170 bytes
// of JSON each, behind an http.Server whose read and write timeouts are
// timeout, as server.read_timeout and write_timeout set them, and returns
// the server and a client whose connections read through small buffers.
func slowSnapshotServer(t *testing.T, n int, timeout time.Duration) (*httptest.Server, *http.Client) {
	t.Helper()
	e := newStreamEnvOpts(t, authenticate, func(rs *httpapi.RevocationStream) {
		rs.Revocations = func(context.Context, time.Time) ([]sessiond.Revocation, error) {
			now := t0
			revs := make([]sessiond.Revocation, n)
			for i := range revs {
				revs[i] = sessiond.Revocation{SessionID: sessiond.NewSessionID(), Subject: "user@example.com", RevokedAt: now,
					ExpiresAt: now.Add(time.Hour), Reason: sessiond.ReasonLogout}
			}
			return revs, nil
		}
	}, func(o *httpapi.Options) { o.WriteTimeout = timeout })
	srv := httptest.NewUnstartedServer(e.h)
	srv.Listener = smallBuffers{srv.Listener}
	srv.Config.ReadTimeout, srv.Config.WriteTimeout = timeout, timeout
	srv.Start()
	t.Cleanup(srv.Close)
	dial := &net.Dialer{}
	hc := &http.Client{Transport: &http.Transport{DisableCompression: true, DisableKeepAlives: true,
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			c, err := dial.DialContext(ctx, network, addr)
			if tc, ok := c.(*net.TCPConn); ok {
				_ = tc.SetReadBuffer(128 << 10)
			}
			return c, err
		}}}
	return srv, hc
}

// TestRevocationSnapshot_SlowClient: a snapshot read slowly, over many
// times server.write_timeout (and read_timeout, and the deadline of the
// request's store calls), but never stopping for that long, arrives
// whole: the timeouts bound the wait for progress, not the transfer, as
// the verifiers' do. A client that stops reading for longer is dropped,
// and gets no complete document.
func TestRevocationSnapshot_SlowClient(t *testing.T) {
	t.Parallel()
	// A second: the progress each write needs must hold on a loaded machine.
	const timeout, n = time.Second, 12000
	srv, hc := slowSnapshotServer(t, n, timeout)
	get := func(t *testing.T) io.ReadCloser {
		t.Helper()
		resp, err := hc.Do(mustRequest(t, srv.URL+stream.SnapshotPath))
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("snapshot status %d", resp.StatusCode)
		}
		return resp.Body
	}
	t.Run("Moving", func(t *testing.T) {
		body := get(t)
		defer body.Close()
		var doc []byte
		buf := make([]byte, 16<<10)
		start := time.Now()
		for {
			n, err := body.Read(buf)
			doc = append(doc, buf[:n]...)
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatalf("reading the snapshot after %d bytes, %v: %v; want the whole document", len(doc), time.Since(start), err)
			}
			time.Sleep(timeout / 40)
		}
		var snap stream.Snapshot
		if err := json.Unmarshal(doc, &snap); err != nil || len(snap.Revocations) != n {
			t.Fatalf("snapshot of %d bytes read over %v: %d revocations, %v; want %d", len(doc), time.Since(start), len(snap.Revocations), err, n)
		}
		if took := time.Since(start); took < 3*timeout {
			t.Logf("read in %v: not slower than the timeouts; the test checked nothing", took)
		}
	})
	t.Run("Stalled", func(t *testing.T) {
		body := get(t)
		defer body.Close()
		if _, err := io.ReadFull(body, make([]byte, 8<<10)); err != nil {
			t.Fatal(err)
		}
		time.Sleep(3 * timeout) // no progress for three times the timeout
		doc, err := io.ReadAll(body)
		var snap stream.Snapshot
		if err == nil && json.Unmarshal(doc, &snap) == nil {
			t.Errorf("a client that stopped reading for 3 × write_timeout got the rest of the snapshot (%d bytes); want it dropped", len(doc))
		}
	})
}
