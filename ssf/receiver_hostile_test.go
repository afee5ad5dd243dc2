package ssf_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/go-jose/go-jose/v4"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/internal/testenv"
	"github.com/sessiond/sessiond/ssf"
)

// TestPushHostileSETs: SETs an attacker chooses, pushed to the receiver's
// endpoint, end no session: a key of the attacker's carried in the header
// (jwk) or named by URL (jku, never fetched), a critical header sessiond
// does not understand (refused as malformed, not as a signature that does
// not verify: the transmitter's own SET is at fault, not its key), events that are not one object, and nesting past
// what encoding/json reads. Nesting within it, in a claim sessiond does not
// read, is accepted: the duplicate-name check reads any depth
// encoding/json does.
func TestPushHostileSETs(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	// The default body limit (64 KiB), for the nesting below.
	rc, err := ssf.New(ssf.Options{Name: "idp", Issuer: testIss, Audience: testAud, JWKSURL: f.tr.jwks.URL,
		Subject: ssf.SubjectRule{Format: ssf.FormatEmail, Template: "user:{value}"}, Revoker: f.mgr, Replay: f.store})
	if err != nil {
		t.Fatal(err)
	}
	f.srv = httptest.NewServer(rc)
	t.Cleanup(f.srv.Close)

	attacker, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	var jkuFetches atomic.Int32
	jku := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		jkuFetches.Add(1)
		_ = json.NewEncoder(w).Encode(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &attacker.PublicKey, KeyID: "tx-1", Algorithm: "ES256"}}})
	}))
	t.Cleanup(jku.Close)

	header := func() *jose.SignerOptions {
		return (&jose.SignerOptions{}).WithHeader("kid", "tx-1").WithType("secevent+jwt")
	}
	good := func(jti string) map[string]any {
		return claims(jti, f.now, ssf.RISCAccountDisabled, map[string]any{"subject": emailSubject("alice@example.com")})
	}
	with := func(jti, k string, v any) map[string]any { c := good(jti); c[k] = v; return c }
	nested := func(depth int) json.RawMessage {
		return json.RawMessage(strings.Repeat("[", depth) + strings.Repeat("]", depth))
	}
	many := map[string]any{}
	for i := range 500 {
		many[fmt.Sprintf("https://example.com/event-%d", i)] = map[string]any{}
	}
	many[ssf.RISCAccountDisabled] = map[string]any{"subject": emailSubject("alice@example.com")}
	// json.Marshal refuses what it could not read back: built by hand.
	deepClaims, _ := json.Marshal(good("deep"))
	deep := append(deepClaims[:len(deepClaims)-1], `,"x":`+string(nested(10_001))+`}`...)
	embedded := header()
	embedded.EmbedJWK = true

	tests := []struct {
		name   string
		set    string
		accept bool
		err    string // the RFC 8935 code of a refusal
	}{
		{"attacker's key embedded as jwk", testenv.SignJWS(t, attacker, jose.ES256, embedded, good("jwk")), false, ssf.CodeAuthenticationFailed},
		{"attacker's key named by jku", testenv.SignJWS(t, attacker, jose.ES256, header().WithHeader("jku", jku.URL), good("jku")), false, ssf.CodeAuthenticationFailed},
		{"attacker's key, no kid", testenv.SignJWS(t, attacker, jose.ES256, (&jose.SignerOptions{}).WithType("secevent+jwt"), good("nokid")), false, ssf.CodeAuthenticationFailed},
		{"critical header not understood", testenv.SignJWS(t, f.tr.key, jose.ES256,
			header().WithHeader("crit", []string{"urn:example:must-understand"}).WithHeader("urn:example:must-understand", true), good("crit")), false, ssf.CodeInvalidRequest},
		{"events not an object", testenv.SignJWS(t, f.tr.key, jose.ES256, header(), with("events-string", "events", "x")), false, ssf.CodeInvalidRequest},
		{"event payload not an object", testenv.SignJWS(t, f.tr.key, jose.ES256, header(), with("event-string", "events", map[string]any{ssf.RISCAccountDisabled: "x"})), false, ssf.CodeInvalidRequest},
		{"501 events", testenv.SignJWS(t, f.tr.key, jose.ES256, header(), with("many", "events", many)), false, ssf.CodeInvalidRequest},
		{"nesting past encoding/json's limit", signPayload(t, f.tr.key, header(), deep), false, ssf.CodeInvalidRequest},
		{"nesting within it, in a claim not read", testenv.SignJWS(t, f.tr.key, jose.ES256, header(), with("nested", "x", nested(9_000))), true, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a, err := f.mgr.Create(ctx, "user:alice@example.com", sessiond.CreateOptions{})
			if err != nil {
				t.Fatal(err)
			}
			code, e, desc := f.pushDescribed(t, tc.set)
			_, getErr := f.mgr.Get(ctx, a.Session.ID)
			switch {
			case tc.accept && (code != http.StatusAccepted || getErr == nil):
				t.Errorf("push = %d %q %q, session ended %v; want 202 and the session ended", code, e, desc, getErr != nil)
			case !tc.accept && (code != http.StatusBadRequest || e != tc.err || getErr != nil):
				t.Errorf("push = %d %q %q, session ended %v; want 400 %q and the session live", code, e, desc, getErr != nil, tc.err)
			}
		})
	}
	if n := jkuFetches.Load(); n != 0 {
		t.Errorf("the jku URL was fetched %d times; want never", n)
	}
}

// signPayload is a compact JWS of payload, as it is, signed with key (ES256).
func signPayload(t *testing.T, key *ecdsa.PrivateKey, opts *jose.SignerOptions, payload []byte) string {
	t.Helper()
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: key}, opts)
	if err != nil {
		t.Fatal(err)
	}
	obj, err := s.Sign(payload)
	if err != nil {
		t.Fatal(err)
	}
	out, err := obj.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	return out
}
