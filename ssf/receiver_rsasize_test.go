package ssf_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/memstore"
	"github.com/sessiond/sessiond/ssf"
)

// TestPushRSAKeySize: a SET verifies only with an RSA key of 2048 bits or
// more (NIST SP 800-131A), the floor sessiond's DPoP and DBSC checks
// already hold client keys to. A transmitter's JWKS may hold a weaker key
// (a provider's forgotten test key); what it signs is refused as a bad
// signature, as if the key were not there, and revokes nothing.
func TestPushRSAKeySize(t *testing.T) {
	for _, tc := range []struct {
		bits int
		want int
	}{
		{1024, http.StatusBadRequest},
		{2048, http.StatusAccepted},
	} {
		key, err := rsa.GenerateKey(rand.Reader, tc.bits)
		if err != nil {
			t.Fatal(err)
		}
		set := jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &key.PublicKey, KeyID: "tx-rsa", Algorithm: "RS256", Use: "sig"}}}
		jwks := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			_ = json.NewEncoder(w).Encode(set)
		}))
		t.Cleanup(jwks.Close)
		ctx := context.Background()
		st := memstore.New()
		mgr, err := sessiond.New(ctx, sessiond.Options{Store: st, Strategy: sessiond.StrategyDatabase})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = mgr.Close() })
		rc, err := ssf.New(ssf.Options{Name: "idp", Issuer: testIss, Audience: testAud, JWKSURL: jwks.URL,
			Subject: ssf.SubjectRule{Format: ssf.FormatEmail, Template: "user:{value}"}, Revoker: mgr, Replay: st, MaxBodyBytes: 8192})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := mgr.Create(ctx, "user:alice@example.com", sessiond.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		c := claims("rsa-1", time.Now(), ssf.RISCAccountDisabled, map[string]any{"subject": emailSubject("alice@example.com")})
		req := httptest.NewRequest(http.MethodPost, "/ssf/push", strings.NewReader(sign(t, key, jose.RS256, "tx-rsa", "secevent+jwt", c)))
		req.Header.Set("Content-Type", "application/secevent+jwt")
		w := httptest.NewRecorder()
		rc.ServeHTTP(w, req)
		if w.Code != tc.want {
			t.Errorf("RSA-%d: push = %d %s; want %d", tc.bits, w.Code, w.Body, tc.want)
		}
		if tc.want != http.StatusAccepted && !strings.Contains(w.Body.String(), "under 2048 bits") {
			t.Errorf("RSA-%d: refusal %s does not say why", tc.bits, w.Body)
		}
		ss, err := mgr.List(ctx, "user:alice@example.com")
		if err != nil {
			t.Fatal(err)
		}
		if revoked := len(ss) == 0; revoked != (tc.want == http.StatusAccepted) {
			t.Errorf("RSA-%d: revoked = %v", tc.bits, revoked)
		}
	}
}
