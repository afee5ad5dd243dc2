package dpop_test

import (
	"bytes"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/sessiond/sessiond/dpop"
)

// TestSharedNonces_PrintsNoSecret: a SharedNonces printed the ways a
// careless log line would shows no part of its secret.
func TestSharedNonces_PrintsNoSecret(t *testing.T) {
	t.Parallel()
	secret := bytes.Repeat([]byte{0xc5}, dpop.MinNonceSecret)
	s, err := dpop.NewSharedNonces(secret, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	fmt.Fprintf(&buf, "%v\n%+v\n%#v\n", s, s, s)
	slog.New(slog.NewTextHandler(&buf, nil)).Info("x", "nonces", s)
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("x", "nonces", s)
	for _, form := range []string{"197 197 197", "c5c5c5", "xcxc"} {
		if strings.Contains(buf.String(), form) {
			t.Errorf("printed the secret (%q):\n%s", form, buf.String())
		}
	}
}
