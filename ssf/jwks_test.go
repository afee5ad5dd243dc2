package ssf_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
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

// TestReceiver_JWKSKeysReadOneByOne: a provider's JWKS holding, besides
// its signing key, a key go-jose cannot read (an ML-DSA "AKP" key, a
// secp256k1 key, an X25519 encryption key) must not make the whole set
// unreadable, answering every SET 503 for good.
func TestReceiver_JWKSKeysReadOneByOne(t *testing.T) {
	foreign := map[string]string{
		"AKP ML-DSA":     `{"kty":"AKP","alg":"ML-DSA-44","kid":"pq","pub":"` + b64(strings.Repeat("x", 1312)) + `"}`,
		"EC secp256k1":   `{"kty":"EC","crv":"secp256k1","kid":"k1","x":"` + b64(strings.Repeat("x", 32)) + `","y":"` + b64(strings.Repeat("y", 32)) + `"}`,
		"OKP X25519 enc": `{"kty":"OKP","crv":"X25519","use":"enc","kid":"enc","x":"` + b64(strings.Repeat("x", 32)) + `"}`,
	}
	for name, extra := range foreign {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			st := memstore.New()
			mgr, err := sessiond.New(ctx, sessiond.Options{Store: st, Strategy: sessiond.StrategyDatabase})
			if err != nil {
				t.Fatal(err)
			}
			defer mgr.Close()
			k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
			good, _ := json.Marshal(jose.JSONWebKey{Key: &k.PublicKey, KeyID: "tx-1", Algorithm: "ES256", Use: "sig"})
			jwks := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
				_, _ = w.Write([]byte(`{"keys":[` + string(good) + `,` + extra + `]}`))
			}))
			defer jwks.Close()
			rc, err := ssf.New(ssf.Options{Name: "idp", Issuer: testIss, Audience: testAud, JWKSURL: jwks.URL,
				Subject: ssf.SubjectRule{Format: ssf.FormatEmail}, Revoker: mgr})
			if err != nil {
				t.Fatal(err)
			}
			c := claims("j1", time.Now(), ssf.RISCAccountDisabled, map[string]any{"subject": emailSubject("a@example.com")})
			req := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(sign(t, k, jose.ES256, "tx-1", "secevent+jwt", c)))
			req.Header.Set("Content-Type", "application/secevent+jwt")
			w := httptest.NewRecorder()
			rc.ServeHTTP(w, req)
			if w.Code != http.StatusAccepted {
				t.Errorf("SET signed by a key present in the JWKS = %d %s; want 202 (skip keys that cannot be parsed)", w.Code, w.Body)
			}
		})
	}
}

// TestReceiver_EncryptionKeyVerifiesNothing: a key the JWKS publishes for
// encryption ("use":"enc", RFC 7517 §4.2) does not verify SETs.
func TestReceiver_EncryptionKeyVerifiesNothing(t *testing.T) {
	ctx := context.Background()
	st := memstore.New()
	mgr, err := sessiond.New(ctx, sessiond.Options{Store: st, Strategy: sessiond.StrategyDatabase})
	if err != nil {
		t.Fatal(err)
	}
	defer mgr.Close()
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	jwks := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_ = json.NewEncoder(w).Encode(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &k.PublicKey, KeyID: "enc-1", Use: "enc"}}})
	}))
	defer jwks.Close()
	rc, _ := ssf.New(ssf.Options{Name: "idp", Issuer: testIss, Audience: testAud, JWKSURL: jwks.URL,
		Subject: ssf.SubjectRule{Format: ssf.FormatEmail}, Revoker: mgr})
	c := claims("j1", time.Now(), ssf.RISCAccountDisabled, map[string]any{"subject": emailSubject("a@example.com")})
	req := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(sign(t, k, jose.ES256, "enc-1", "secevent+jwt", c)))
	req.Header.Set("Content-Type", "application/secevent+jwt")
	w := httptest.NewRecorder()
	rc.ServeHTTP(w, req)
	if w.Code == http.StatusAccepted {
		t.Errorf("SET verified with a key marked use=enc")
	}
}
