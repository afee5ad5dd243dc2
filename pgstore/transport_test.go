package pgstore

import (
	"bytes"
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/sessiond/sessiond/internal/testenv"
)

// A store reached over the network without TLS, or with TLS whose
// certificate is not checked (libpq's default sslmode prefer, and require,
// which pgx maps to InsecureSkipVerify), lets anyone on the path read and
// alter sessions, token hashes, API key hashes and the signing key ring.
// New says so, once, in its log: 192.0.2.2 is this machine's non-loopback
// address, where nothing listens on the port, so New fails fast after the
// warning and the test needs no server.
func TestNew_WarnsOfUnverifiedTransport(t *testing.T) {
	const password = "S3cretDbPassw0rd"
	for _, tc := range []struct {
		name, dsn, want string // want "": no warning
	}{
		{"plaintext", "postgres://app:" + password + "@192.0.2.2:20511/db?sslmode=disable&connect_timeout=2", "plaintext"},
		{"default prefer", "postgres://app:" + password + "@192.0.2.2:20511/db?connect_timeout=2", "not verified"},
		{"require", "host=192.0.2.2 port=20511 user=app password=" + password + " sslmode=require connect_timeout=2", "not verified"},
		{"verify-full", "postgres://app:" + password + "@192.0.2.2:20511/db?sslmode=verify-full&connect_timeout=2", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("PGSSLMODE", "") // the DSN alone decides
			var logs bytes.Buffer
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			s, err := New(ctx, tc.dsn, Options{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
			if s != nil {
				s.Close()
			}
			if err == nil {
				t.Fatal("New reached a server at 192.0.2.2:20511; the test needs nothing listening there")
			}
			testenv.CheckTransportWarning(t, logs.String(), password, "192.0.2.2", tc.want)
		})
	}
}
