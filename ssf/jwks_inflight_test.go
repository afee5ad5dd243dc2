package ssf_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/memstore"
	"github.com/sessiond/sessiond/sessiondtest"
	"github.com/sessiond/sessiond/ssf"
)

// countingTransport counts the JWKS fetches still in flight: one is in
// flight from the request until the response (or the error) comes back.
type countingTransport struct {
	inflight atomic.Int32
}

func (c *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	c.inflight.Add(1)
	defer c.inflight.Add(-1)
	return http.DefaultTransport.RoundTrip(r)
}

// TestReceiver_JWKSFetchDoesNotBlockKnownKids: while a refetch of the JWKS
// (for a SET naming a new kid) hangs at a slow provider, a SET whose kid
// is already cached verifies at once, and the SETs waiting on the fetch
// get the key it brings.
func TestReceiver_JWKSFetchDoesNotBlockKnownKids(t *testing.T) {
	ctx := context.Background()
	st := memstore.New()
	mgr, err := sessiond.New(ctx, sessiond.Options{Store: st, Strategy: sessiond.StrategyDatabase})
	if err != nil {
		t.Fatal(err)
	}
	defer mgr.Close()
	k1, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	k2, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	jwk := func(k *ecdsa.PrivateKey, kid string) jose.JSONWebKey {
		return jose.JSONWebKey{Key: &k.PublicKey, KeyID: kid, Algorithm: "ES256", Use: "sig"}
	}
	var fetches atomic.Int32
	started, release := make(chan struct{}), make(chan struct{})
	jwks := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		set := jose.JSONWebKeySet{Keys: []jose.JSONWebKey{jwk(k1, "k1")}}
		if fetches.Add(1) > 1 { // the refetch: the provider rotated, and is slow
			close(started)
			select {
			case <-release:
			case <-r.Context().Done():
				return
			}
			set.Keys = append(set.Keys, jwk(k2, "k2"))
		}
		_ = json.NewEncoder(w).Encode(set)
	}))
	defer jwks.Close()
	var once sync.Once
	free := func() { once.Do(func() { close(release) }) }
	defer free() // runs before jwks.Close, which waits for a blocked handler
	transport := &countingTransport{}
	clock := sessiondtest.NewClock(time.Now())
	rc, err := ssf.New(ssf.Options{Name: "idp", Issuer: testIss, Audience: testAud, JWKSURL: jwks.URL,
		Subject: ssf.SubjectRule{Format: ssf.FormatEmail}, Revoker: mgr, Replay: st, Clock: clock,
		JWKSInterval: time.Minute, HTTPClient: &http.Client{Transport: transport}})
	if err != nil {
		t.Fatal(err)
	}
	push := func(key *ecdsa.PrivateKey, kid, jti string) int {
		return pushRevokeAll(t, rc, key, kid, jti, clock.Now())
	}

	if code := push(k1, "k1", "first"); code != http.StatusAccepted {
		t.Fatalf("first SET (fetches the JWKS) = %d; want 202", code)
	}
	clock.Advance(2 * time.Minute) // a new kid may fetch again
	newKid := make(chan int, 2)
	go func() { newKid <- push(k2, "k2", "rotated") }()
	<-started
	// Arrives while the refetch is in flight: waits for it rather than
	// being told the set was fetched too recently.
	go func() { newKid <- push(k2, "k2", "rotated-too") }()

	if code := push(k1, "k1", "known"); code != http.StatusAccepted {
		t.Errorf("SET with a cached kid during a slow refetch = %d; want 202", code)
	}
	if n := transport.inflight.Load(); n != 1 {
		t.Errorf("the SET with a cached kid was answered once the refetch had ended (%d in flight); want it answered while the refetch hangs", n)
	}
	free()
	for range 2 {
		if code := <-newKid; code != http.StatusAccepted {
			t.Errorf("SET with the kid the refetch brings = %d; want 202", code)
		}
	}
	if n := fetches.Load(); n != 2 {
		t.Errorf("%d JWKS fetches; want 2 (the SETs waiting shared one)", n)
	}
}
