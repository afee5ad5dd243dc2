package server

import (
	"bytes"
	"crypto/rand"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/internal/apikey"
	"github.com/sessiond/sessiond/internal/config"
	"github.com/sessiond/sessiond/memstore"
)

// TestBootstrapAPIKey_WarnsOfGuessableKey: SESSIOND_API_KEY is stored as
// an unsalted SHA-256 (internal/apikey), which is safe only for a random
// key: a word, a phrase or a pattern falls to offline guessing from a copy
// of the store (a backup, a replica) and gives its finder the admin scope.
// serve accepts such a key, as before, but says so, by the measure the
// HS256 secret is checked with (SD-JWT-003), and never quotes it.
func TestBootstrapAPIKey_WarnsOfGuessableKey(t *testing.T) {
	for _, tc := range []struct {
		name string
		key  sessiond.Secret
		warn bool
	}{
		{"one character repeated", sessiond.Secret(strings.Repeat("k", 40)), true},
		{"a word repeated", sessiond.Secret(strings.Repeat("password", 5)), true},
		{"random base32", sessiond.Secret(rand.Text() + rand.Text()), false},
		{"generated sdak_ key", func() sessiond.Secret {
			s, _, err := sessiond.OpaqueCodec{}.New(sessiond.KindAPIKey)
			if err != nil {
				t.Fatal(err)
			}
			return s
		}(), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var logs bytes.Buffer
			cfg := config.Default()
			cfg.Server.DataDir = t.TempDir()
			keys := apikey.New(memstore.New(), nil, time.Second)
			if err := bootstrapAPIKey(t.Context(), cfg, tc.key, keys, slog.New(slog.NewTextHandler(&logs, nil))); err != nil {
				t.Fatalf("bootstrapAPIKey = %v; want nil (the key is still accepted)", err)
			}
			out := logs.String()
			if strings.Contains(out, string(tc.key)) {
				t.Errorf("the log quotes the key:\n%s", out)
			}
			if got := strings.Contains(out, "level=WARN") && strings.Contains(out, "SESSIOND_API_KEY"); got != tc.warn {
				t.Errorf("warned = %v; want %v; the log:\n%s", got, tc.warn, out)
			}
		})
	}
}
