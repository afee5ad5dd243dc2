package jwttoken_test

import (
	"bytes"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/go-jose/go-jose/v4"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/jwttoken"
)

// fixedCodec is a codec on a ring with a fixed Ed25519 key, so the token it
// signs (Ed25519 is deterministic) is the same in every run and can sit in
// the committed seed corpus.
func fixedCodec(t testing.TB) (*jwttoken.Codec, sessiond.Secret) {
	t.Helper()
	priv := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{0x5e}, ed25519.SeedSize))
	jwk, err := json.Marshal(jose.JSONWebKey{Key: priv, KeyID: "fuzz-key", Algorithm: "EdDSA", Use: "sig"})
	if err != nil {
		t.Fatal(err)
	}
	doc := `{"version":1,"generation":1,"keys":[{"jwk":` + string(jwk) + `,"created_at":"2030-01-01T00:00:00Z"}]}`
	ring, err := jwttoken.LoadRing([]byte(doc), jwttoken.RingOptions{MaxTokenLifetime: maxLifetime})
	if err != nil {
		t.Fatal(err)
	}
	c := newCodec(t, ring, 0)
	return c, sign(t, c, sessiond.KindAccess, tokenClaims(t0))
}

// FuzzVerify: Verify never panics, fails only with the two sentinels, and
// nothing but the one valid token verifies; mutations of it never do.
func FuzzVerify(f *testing.F) {
	c, valid := fixedCodec(f)
	f.Add(string(valid))
	f.Add(string(valid) + "A")
	f.Add("eyJhbGciOiJub25lIn0.e30.")
	f.Add("a.b.c.d.e")
	f.Add(`{"payload":"e30","signatures":[]}`)
	f.Fuzz(func(t *testing.T, tok string) {
		for _, kind := range []sessiond.TokenKind{sessiond.KindAccess, sessiond.KindRefresh} {
			_, err := c.Verify(kind, sessiond.Secret(tok), t0)
			if err == nil {
				if kind != sessiond.KindAccess || tok != string(valid) {
					t.Fatalf("Verify(%s, %q) = nil; only the valid access token may verify", kind, tok)
				}
				continue
			}
			if !errors.Is(err, sessiond.ErrInvalidToken) && !errors.Is(err, sessiond.ErrExpired) {
				t.Fatalf("Verify(%s) = %v; want ErrInvalidToken or ErrExpired", kind, err)
			}
		}
	})
}

// TestFuzzSeedIsValid keeps the committed corpus honest: its valid token
// must still verify, or the fuzzer would start from garbage only.
// Regenerate it from fixedCodec when the token format changes.
func TestFuzzSeedIsValid(t *testing.T) {
	c, valid := fixedCodec(t)
	b, err := os.ReadFile(filepath.Join("testdata", "fuzz", "FuzzVerify", "valid_access_token"))
	if err != nil {
		t.Fatal(err)
	}
	line, ok := strings.CutPrefix(strings.TrimSpace(string(b)), "go test fuzz v1\nstring(")
	seed, err := strconv.Unquote(strings.TrimSuffix(line, ")"))
	if !ok || err != nil {
		t.Fatalf("seed file is not a go test fuzz v1 string: %v", err)
	}
	if seed != string(valid) {
		t.Fatalf("seed token differs from fixedCodec's token %q", valid)
	}
	if _, err := c.Verify(sessiond.KindAccess, sessiond.Secret(seed), t0); err != nil {
		t.Fatalf("Verify(seed) = %v; want nil", err)
	}
}
