package httpapi_test

import (
	"context"
	"io"
	"net/http"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/internal/httpapi"
	"github.com/sessiond/sessiond/verifier/stream"
)

// TestRevocationSnapshot_HeadReadsNothing: HEAD gets the snapshot's
// headers (those GET sends for the same Accept-Encoding) without the
// store being read: no page, no whole read, no watermarks. A GET of the
// same server reads them, so the count can fail.
func TestRevocationSnapshot_HeadReadsNothing(t *testing.T) {
	t.Parallel()
	var reads atomic.Int64
	e := newStreamEnv(t, func(rs *httpapi.RevocationStream) {
		revs, marks := rs.Revocations, rs.Watermarks
		rs.Revocations = func(ctx context.Context, since time.Time) ([]sessiond.Revocation, error) {
			reads.Add(1)
			return revs(ctx, since)
		}
		rs.Page = func(ctx context.Context, q sessiond.RevocationQuery) (sessiond.RevocationPage, error) {
			reads.Add(1)
			all, err := revs(ctx, q.Since)
			return sessiond.RevocationPage{Revocations: all, Done: true}, err
		}
		rs.Watermarks = func(ctx context.Context) ([]stream.Watermark, error) {
			reads.Add(1)
			return marks(ctx)
		}
	})
	for _, gz := range []bool{false, true} {
		send := func(method string) *http.Response {
			t.Helper()
			req := mustRequest(t, e.srv.URL+stream.SnapshotPath)
			req.Method = method
			if gz {
				req.Header.Set("Accept-Encoding", "gzip")
			}
			resp, err := http.DefaultTransport.RoundTrip(req)
			if err != nil {
				t.Fatal(err)
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			return resp
		}
		reads.Store(0)
		get := send(http.MethodGet)
		if get.StatusCode != http.StatusOK || reads.Load() == 0 {
			t.Fatalf("gzip %t: GET = %d after %d reads; want 200 after reading the store", gz, get.StatusCode, reads.Load())
		}
		reads.Store(0)
		head := send(http.MethodHead)
		if head.StatusCode != http.StatusOK {
			t.Errorf("gzip %t: HEAD = %d; want 200", gz, head.StatusCode)
		}
		if n := reads.Load(); n != 0 {
			t.Errorf("gzip %t: HEAD read the store %d times; want 0", gz, n)
		}
		for _, h := range []string{"Content-Type", "Content-Encoding", "Vary", "Cache-Control"} {
			if g, w := head.Header.Values(h), get.Header.Values(h); !slices.Equal(g, w) {
				t.Errorf("gzip %t: HEAD %s = %q; want GET's %q", gz, h, g, w)
			}
		}
	}
}
