package main

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/client"
)

// TestE2E_RequestLog sends verifies that succeed and verifies that fail,
// then stops the server with SIGTERM, and counts the request lines: the
// buffered log loses none on a graceful stop, and log.requests picks the
// lines it says.
func TestE2E_RequestLog(t *testing.T) {
	const good, bad = 300, 7
	tests := []struct {
		name              string
		env               []string
		wantGood, wantBad int
	}{
		{"all (default)", nil, good, bad},
		{"errors", []string{"SESSIOND_LOG_REQUESTS=errors"}, 0, bad},
		{"sample", []string{"SESSIOND_LOG_REQUESTS=sample", "SESSIOND_LOG_SAMPLE_EVERY=10"}, good / 10, bad},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := startNode(t, nodeConfig{env: tt.env})
			c := n.client()
			ctx := context.Background()
			login, err := c.CreateSession(ctx, client.CreateRequest{Subject: "logger"})
			if err != nil {
				t.Fatal(err)
			}
			for range good {
				if _, err := c.Verify(ctx, login.AccessToken, nil); err != nil {
					t.Fatal(err)
				}
			}
			for range bad {
				if _, err := c.Verify(ctx, sessiond.Secret("not-a-token"), nil); err == nil {
					t.Fatal("a malformed token verified")
				}
			}
			n.stop()
			var gotGood, gotBad int
			for _, line := range strings.Split(n.log.String(), "\n") {
				if !strings.Contains(line, "POST /v1/sessions/verify") {
					continue
				}
				var rec struct {
					Msg    string `json:"msg"`
					Status int    `json:"status"`
				}
				if err := json.Unmarshal([]byte(line), &rec); err != nil || rec.Msg != "request" {
					t.Fatalf("not a JSON request line: %q", line)
				}
				if rec.Status == 200 {
					gotGood++
				} else {
					gotBad++
				}
			}
			if gotGood != tt.wantGood || gotBad != tt.wantBad {
				t.Errorf("logged %d successful and %d failed verifies; want %d and %d", gotGood, gotBad, tt.wantGood, tt.wantBad)
			}
		})
	}
}
