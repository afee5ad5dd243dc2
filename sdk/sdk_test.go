package sdk_test

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"testing"

	"github.com/sessiond/sessiond/sdk"

	"github.com/sessiond/sessiond/internal/testenv"
)

func TestHandler(t *testing.T) {
	srv := httptest.NewServer(sdk.Handler())
	defer srv.Close()

	resp, err := http.Get(srv.URL + "/sdk/sessiond.js")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !bytes.Equal(body, sdk.Source()) {
		t.Fatalf("GET = %d, %d bytes; want 200 and the script", resp.StatusCode, len(body))
	}
	for k, want := range map[string]string{
		"Content-Type":           "text/javascript; charset=utf-8",
		"Cache-Control":          "public, max-age=300",
		"X-Content-Type-Options": "nosniff",
	} {
		if got := resp.Header.Get(k); got != want {
			t.Errorf("%s = %q; want %q", k, got, want)
		}
	}
	etag := resp.Header.Get("ETag")
	if etag == "" {
		t.Fatal("no ETag")
	}

	tests := []struct {
		name   string
		method string
		hdr    map[string]string
		want   int
	}{
		{"revalidation", http.MethodGet, map[string]string{"If-None-Match": etag}, http.StatusNotModified},
		{"stale validator", http.MethodGet, map[string]string{"If-None-Match": `"other"`}, http.StatusOK},
		{"HEAD", http.MethodHead, nil, http.StatusOK},
		{"POST", http.MethodPost, nil, http.StatusMethodNotAllowed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest(tt.method, srv.URL+"/sdk/sessiond.js", nil)
			for k, v := range tt.hdr {
				req.Header.Set(k, v)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tt.want {
				t.Errorf("%s = %d; want %d", tt.method, resp.StatusCode, tt.want)
			}
		})
	}
}

// TestScript runs the module's unit tests (sessiond_test.mjs) in Node with
// fake storage, fetch and tabs. It skips without node unless
// SESSIOND_TEST_REQUIRE=1. The browser tests (browsertest/) run it in
// Chromium.
func TestScript(t *testing.T) {
	node := testenv.Node(t, "the JS unit tests", "sdk")
	cmd := exec.CommandContext(t.Context(), node, "--test", "sessiond_test.mjs")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("node --test sessiond_test.mjs: %v\n%s", err, out)
	}
	t.Logf("%s", out)
}
