package client_test

import (
	"bytes"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/sessiond/sessiond/client"
)

// TestClient_PrintsNoAPIKey: a Client printed the ways a careless log line
// would shows no API key, and a nil Option is skipped rather than called.
func TestClient_PrintsNoAPIKey(t *testing.T) {
	t.Parallel()
	const key = "sdk_printme_0123456789abcdef"
	c, err := client.New("http://127.0.0.1:1", key, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range []any{c, []*client.Client{c}, struct{ C *client.Client }{c}} {
		var buf bytes.Buffer
		fmt.Fprintf(&buf, "%v %+v %#v", v, v, v)
		slog.New(slog.NewTextHandler(&buf, nil)).Info("x", "client", v)
		slog.New(slog.NewJSONHandler(&buf, nil)).Info("x", "client", v)
		if strings.Contains(buf.String(), key) {
			t.Errorf("%T printed its API key: %s", v, buf.String())
		}
	}
}
