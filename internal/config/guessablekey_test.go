package config_test

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"strings"
	"testing"

	"github.com/sessiond/sessiond/internal/config"
)

// TestGuessableKey: an API key an operator made from random bytes, in any
// of the usual spellings (hex, base64, a UUID: 122 to 256 bits), is never
// called guessable, and the keys people type (a word, a short phrase, a
// repeated pattern) are. Each random spelling is drawn many times: the
// byte count reads short random keys low, and a warning to an operator
// whose key is sound would teach them to ignore it.
func TestGuessableKey(t *testing.T) {
	random := map[string]func() string{
		"hex, 16 bytes":    func() string { return hex.EncodeToString(rand32()[:16]) },
		"hex, 32 bytes":    func() string { return hex.EncodeToString(rand32()) },
		"base64, 32 bytes": func() string { return base64.StdEncoding.EncodeToString(rand32()) },
		// 32 characters, the shortest push token SD-SSF-001 takes.
		"unpadded base64url, 24 bytes": func() string { return base64.RawURLEncoding.EncodeToString(rand32()[:24]) },
		"base32 text, twice":           func() string { return rand.Text() + rand.Text() },
		"UUID v4": func() string {
			b := rand32()[:16]
			b[6], b[8] = b[6]&0x0f|0x40, b[8]&0x3f|0x80
			return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
		},
	}
	for name, gen := range random {
		for range 2000 {
			if k := gen(); config.GuessableKey([]byte(k)) {
				t.Errorf("%s: GuessableKey(%q) = true; want false (random)", name, k)
				break
			}
		}
	}
	for _, k := range []string{
		"changeme", "admin", "Tr0ub4dor&3", strings.Repeat("k", 40), "sdak_e2e_" + strings.Repeat("k", 40),
		strings.Repeat("password", 5), "secretsecretsecretsecretsecret12",
		// A phrase repeated to length: its characters, counted, look
		// varied, but the repeats add nothing.
		strings.Repeat("Summer2024!", 4), strings.Repeat("correct horse battery staple ", 3),
		"0123456789abcdef0123456789abcdef",
	} {
		if !config.GuessableKey([]byte(k)) {
			t.Errorf("GuessableKey(%q) = false; want true (typed, not random)", k)
		}
	}
}

func rand32() []byte {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return b
}

// TestHS256SecretProblem_Repetition: the HS256 key measure (SD-JWT-003,
// and the webhook and KEK keys held to it) refuses a phrase repeated to
// length, whose characters alone look varied enough, and never a random
// key in the usual spellings (raw bytes, base64, hex), each drawn many
// times: a refusal of a sound key would stop serve.
func TestHS256SecretProblem_Repetition(t *testing.T) {
	random := map[string]func() []byte{
		"raw, 32 bytes":    rand32,
		"base64, 32 bytes": func() []byte { return []byte(base64.StdEncoding.EncodeToString(rand32())) },
		"hex, 32 bytes":    func() []byte { return []byte(hex.EncodeToString(rand32())) },
		"raw, 64 bytes":    func() []byte { return append(rand32(), rand32()...) },
	}
	for name, gen := range random {
		for range 2000 {
			if k := gen(); config.HS256SecretProblem(k) != "" {
				t.Errorf("%s: HS256SecretProblem(%q) = %q; want none (random)", name, k, config.HS256SecretProblem(k))
				break
			}
		}
	}
	for _, k := range []string{
		strings.Repeat("Summer2024!", 4),
		strings.Repeat("correct horse battery staple ", 3),
		strings.Repeat("my-webhook-secret!", 2),
		"0123456789abcdef0123456789abcdef",
		"passwordpasswordpasswordpassword",
		// A random start does not make up for a pattern after it.
		"Kq3vZ8pLw2XyR7tN" + strings.Repeat("0123456789", 6),
	} {
		if p := config.HS256SecretProblem([]byte(k)); !strings.Contains(p, "random") {
			t.Errorf("HS256SecretProblem(%q) = %q; want it refused as not random", k, p)
		}
	}
}
