package verifier_test

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/sessiond/sessiond/verifier"
)

// TestNew_WarnsOfPlainHTTP: the verifier trusts whatever keys the JWKS at
// URL names, and sends its API key there. Over plain HTTP to another host
// anyone on the path can swap the JWKS for their own key, and so mint
// tokens every service behind this verifier accepts. New says so in its
// log, before its first fetch (so that a server not reachable yet is
// reported too); a loopback address never leaves the machine. 192.0.2.2
// is this machine's non-loopback address, where nothing listens on the
// port, so New fails fast after the warning and the test needs no server.
func TestNew_WarnsOfPlainHTTP(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		url  string
		warn bool
	}{
		{"http://192.0.2.2:20514", true},
		{"http://sessiond.invalid:20514", true},
		{"https://192.0.2.2:20514", false},
		{"http://127.0.0.1:20514", false},
		{"http://[::1]:20514", false},
		{"http://localhost:20514", false},
		{"http://localhost.:20714", false}, // the same name, fully qualified (RFC 6761 §6.3)
		{"http://LOCALHOST.:20714", false},
	} {
		t.Run(tc.url, func(t *testing.T) {
			t.Parallel()
			var logs bytes.Buffer
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			const key = "sdak_transport_test_key_0123456789abcdefghij"
			v, err := verifier.New(ctx, verifier.Options{URL: tc.url, APIKey: key, Issuer: "iss", Audience: "aud",
				Logger: slog.New(slog.NewTextHandler(&logs, nil))})
			if err == nil {
				v.Close()
				t.Fatal("New reached a server; the test needs nothing listening there")
			}
			out := logs.String()
			if strings.Contains(out, key) {
				t.Errorf("the log holds the API key:\n%s", out)
			}
			if got := strings.Contains(out, "level=WARN") && strings.Contains(out, "plain HTTP"); got != tc.warn {
				t.Errorf("warned = %v; want %v; the log:\n%s", got, tc.warn, out)
			}
		})
	}
}
