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
	"github.com/sessiond/sessiond/sessiondtest"
	"github.com/sessiond/sessiond/ssf"
)

// TestReceiver_ForgedKidDoesNotLoseARotation: anyone who can reach the
// push endpoint can spend the JWKS refetch with a forged kid (the kid is
// looked up before the signature is checked). A genuine SET under the
// provider's new key within the refetch interval must then be retryable
// (503), not 400 invalid_key, which RFC 8935 §2.3 makes final: the
// transmitter would drop the revocation.
func TestReceiver_ForgedKidDoesNotLoseARotation(t *testing.T) {
	ctx := context.Background()
	clock := sessiondtest.NewClock(time.Now().Truncate(time.Second))
	st := memstore.New()
	mgr, err := sessiond.New(ctx, sessiond.Options{Store: st, Strategy: sessiond.StrategyDatabase, Clock: clock})
	if err != nil {
		t.Fatal(err)
	}
	defer mgr.Close()
	k1, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	k2, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	attacker, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	keys := []jose.JSONWebKey{{Key: &k1.PublicKey, KeyID: "k1", Algorithm: "ES256"}}
	jwks := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_ = json.NewEncoder(w).Encode(jose.JSONWebKeySet{Keys: keys})
	}))
	defer jwks.Close()
	rc, err := ssf.New(ssf.Options{Name: "idp", Issuer: testIss, Audience: testAud, JWKSURL: jwks.URL,
		Subject: ssf.SubjectRule{Format: ssf.FormatEmail}, Revoker: mgr, Clock: clock})
	if err != nil {
		t.Fatal(err)
	}
	s, _ := mgr.Create(ctx, "a@example.com", sessiond.CreateOptions{})
	push := func(key *ecdsa.PrivateKey, kid, jti string) int {
		c := claims(jti, clock.Now(), ssf.RISCAccountDisabled, map[string]any{"subject": emailSubject("a@example.com")})
		req := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(sign(t, key, jose.ES256, kid, "secevent+jwt", c)))
		req.Header.Set("Content-Type", "application/secevent+jwt")
		w := httptest.NewRecorder()
		rc.ServeHTTP(w, req)
		return w.Code
	}
	// Forged kid: first fetch.
	_ = push(attacker, "forged-kid", "x1")
	clock.Advance(10 * time.Second)
	keys = []jose.JSONWebKey{{Key: &k2.PublicKey, KeyID: "k2", Algorithm: "ES256"}} // rotation at the provider
	code := push(k2, "k2", "genuine")
	if code != http.StatusServiceUnavailable {
		t.Errorf("genuine SET under a freshly rotated key within the refetch interval = %d; want 503 (the transmitter retries)", code)
	}
	clock.Advance(time.Minute) // the retry, after the interval
	if code := push(k2, "k2", "genuine"); code != http.StatusAccepted {
		t.Errorf("the retry after the interval = %d; want 202", code)
	}
	if _, err := mgr.Get(ctx, s.Session.ID); err == nil {
		t.Errorf("account-disabled was not acted upon")
	}
}

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
