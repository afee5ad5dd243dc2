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
		"hex, 16 bytes":      func() string { return hex.EncodeToString(rand32()[:16]) },
		"hex, 32 bytes":      func() string { return hex.EncodeToString(rand32()) },
		"base64, 32 bytes":   func() string { return base64.StdEncoding.EncodeToString(rand32()) },
		"base32 text, twice": func() string { return rand.Text() + rand.Text() },
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
