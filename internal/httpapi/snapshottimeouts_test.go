package httpapi_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/internal/httpapi"
	"github.com/sessiond/sessiond/internal/testenv"
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
func slowSnapshotServer(t *testing.T, n int, timeout time.Duration, logs io.Writer) (*httptest.Server, *http.Client) {
	t.Helper()
	srv := httptest.NewUnstartedServer(snapshotHandler(t, n, timeout, logs))
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

// snapshotHandler is the API serving a snapshot of n revocations, about
// 170 bytes of JSON each, with write_timeout timeout, logging to logs.
func snapshotHandler(t *testing.T, n int, timeout time.Duration, logs io.Writer) http.Handler {
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
	}, func(o *httpapi.Options) {
		o.WriteTimeout = timeout
		o.Logger = slog.New(slog.NewJSONHandler(logs, nil))
	})
	return e.h
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
	logs := &testenv.SyncBuffer{}
	srv, hc := slowSnapshotServer(t, n, timeout, logs)
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
		// The operator is told (docs/operations.md), although the failed
		// write has canceled the request's context.
		if !strings.Contains(logs.String(), `"msg":"revocation snapshot: write"`) {
			t.Errorf("a client dropped for not reading: logs %q; want a revocation snapshot: write line", logs.String())
		}
	})
}

// TestRevocationSnapshot_SlowClientSystemBuffers: as the Moving case of
// TestRevocationSnapshot_SlowClient, with the socket buffers the system
// gives both ends (autotuned to MBs), behind ProgressListener as the
// server serves the API: a client reading 800 KB a second, far more than
// 4 KiB each write_timeout, gets the whole snapshot. Without
// ProgressListener a write waited for about a third of the server's send
// buffer to drain, which took longer than write_timeout, and the
// snapshot was cut after 4 MB.
func TestRevocationSnapshot_SlowClientSystemBuffers(t *testing.T) {
	t.Parallel()
	const timeout, n = time.Second, 30000 // about 5 MB, more than both buffers hold
	srv := httptest.NewUnstartedServer(snapshotHandler(t, n, timeout, io.Discard))
	srv.Listener = httpapi.ProgressListener(srv.Listener)
	srv.Config.ReadTimeout, srv.Config.WriteTimeout = timeout, timeout
	srv.Start()
	t.Cleanup(srv.Close)
	hc := &http.Client{Transport: &http.Transport{DisableCompression: true, DisableKeepAlives: true}}
	resp, err := hc.Do(mustRequest(t, srv.URL+stream.SnapshotPath))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("snapshot status %d", resp.StatusCode)
	}
	var doc []byte
	buf := make([]byte, 16<<10)
	start := time.Now()
	for {
		k, err := resp.Body.Read(buf)
		doc = append(doc, buf[:k]...)
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("reading the snapshot at 800 KB/s after %d bytes, %v: %v; want the whole document", len(doc), time.Since(start), err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	var snap stream.Snapshot
	if err := json.Unmarshal(doc, &snap); err != nil || len(snap.Revocations) != n {
		t.Fatalf("snapshot of %d bytes: %d revocations, %v; want %d", len(doc), len(snap.Revocations), err, n)
	}
}
