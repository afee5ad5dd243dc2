package server_test

import (
	"context"
	"net/http"
	"testing"

	"github.com/sessiond/sessiond/internal/server"
	"github.com/sessiond/sessiond/internal/servertest"
	"github.com/sessiond/sessiond/verifier/stream"
)

// TestRun_RevocationStreamsPerAPIKey: rate_limit.revocation_streams_per_api_key
// reaches the API: past it, a key's next stream answers 429 with
// Retry-After while its open one goes on.
func TestRun_RevocationStreamsPerAPIKey(t *testing.T) {
	cfg := servertest.Config(t)
	cfg.RateLimit.RevocationStreamsPerAPIKey = 1
	base := servertest.Run(t, server.Options{Config: cfg, APIKey: testKey, InsecureDev: true})
	open := func() *http.Response {
		t.Helper()
		ctx, cancel := context.WithCancel(t.Context())
		t.Cleanup(cancel)
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+stream.StreamPath, nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+string(testKey))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { resp.Body.Close() })
		return resp
	}
	if first := open(); first.StatusCode != http.StatusOK {
		t.Fatalf("first stream status = %d; want 200", first.StatusCode)
	}
	second := open()
	if second.StatusCode != http.StatusTooManyRequests || second.Header.Get("Retry-After") == "" {
		t.Errorf("second stream = %d, Retry-After %q; want 429 with Retry-After", second.StatusCode, second.Header.Get("Retry-After"))
	}
}
