package client_test

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/client"
	"github.com/sessiond/sessiond/dpop"
	"github.com/sessiond/sessiond/internal/httpapi"
	"github.com/sessiond/sessiond/internal/jwttest"
	"github.com/sessiond/sessiond/internal/testenv"
	"github.com/sessiond/sessiond/memstore"
	"github.com/sessiond/sessiond/opaquetoken"
)

// dpopServer is the real API handler (hybrid, memstore) requiring DPoP
// server nonces, under a path prefix.
func dpopServer(t *testing.T) string {
	t.Helper()
	signed, _ := jwttest.Codec(t, time.Now(), 24*time.Hour)
	store := memstore.New()
	m, err := sessiond.New(t.Context(), sessiond.Options{Strategy: sessiond.StrategyHybrid, Store: store, Signed: signed,
		Opaque: opaquetoken.Codec{}, GCInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	nonces, err := dpop.NewSharedNonces(bytes.Repeat([]byte{1}, 32), time.Minute, nil)
	if err != nil {
		t.Fatal(err)
	}
	v, err := dpop.New(dpop.Options{Replay: store, Nonces: nonces})
	if err != nil {
		t.Fatal(err)
	}
	return serveAPI(t, httpapi.Options{Manager: m, DPoP: v})
}

// TestClient_DPoPKey: a Client made WithDPoP creates sessions bound to its
// key (learning the server nonce on the way), verifies and refreshes them
// with proofs; without the key, or with another, verify and refresh are
// refused.
func TestClient_DPoPKey(t *testing.T) {
	t.Parallel()
	base := dpopServer(t)
	p := testenv.Prover(t, nil)
	cl, _ := client.New(base, "k", client.WithDPoP(p))
	plain, _ := client.New(base, "k")
	thief, _ := client.New(base, "k", client.WithDPoP(testenv.Prover(t, nil)))
	ctx := t.Context()

	tr, err := cl.CreateSession(ctx, client.CreateRequest{Subject: "kim"})
	if err != nil {
		t.Fatalf("CreateSession with a key: %v", err)
	}
	if !bytes.Contains(tr.Session.Claims, []byte(`"jkt":"`+p.JKT()+`"`)) {
		t.Fatalf("session claims %s are not bound to %s", tr.Session.Claims, p.JKT())
	}
	if tr.DPoPNonce == "" {
		t.Error("no DPoP-Nonce passed on")
	}
	if _, err := cl.Verify(ctx, tr.AccessToken, nil); err != nil {
		t.Fatalf("Verify with the key: %v", err)
	}
	if _, err := plain.Verify(ctx, tr.AccessToken, nil); !errors.Is(err, client.ErrInvalidDPoPProof) {
		t.Errorf("Verify without the key = %v; want ErrInvalidDPoPProof", err)
	}
	if _, err := thief.Verify(ctx, tr.AccessToken, nil); !errors.Is(err, client.ErrInvalidDPoPProof) {
		t.Errorf("Verify with another key = %v; want ErrInvalidDPoPProof", err)
	}
	if _, err := thief.Refresh(ctx, tr.RefreshToken, nil); !errors.Is(err, client.ErrInvalidDPoPProof) {
		t.Errorf("Refresh with another key = %v; want ErrInvalidDPoPProof", err)
	}
	if _, err := plain.Refresh(ctx, tr.RefreshToken, nil); !errors.Is(err, client.ErrInvalidDPoPProof) {
		t.Errorf("Refresh without the key = %v; want ErrInvalidDPoPProof", err)
	}
	next, err := cl.Refresh(ctx, tr.RefreshToken, nil)
	if err != nil {
		t.Fatalf("Refresh with the key: %v", err)
	}
	if _, err := cl.Verify(ctx, next.AccessToken, nil); err != nil {
		t.Fatalf("Verify the refreshed token: %v", err)
	}
}

// TestClient_DPoPRelay: an app relays its end user's proofs; a
// use_dpop_nonce answer hands it the nonce for its client.
func TestClient_DPoPRelay(t *testing.T) {
	t.Parallel()
	const tokenURL, apiURL = "https://app.example/token", "https://app.example/api/orders"
	base := dpopServer(t)
	user := testenv.Prover(t, nil) // the end user's client, outside this process in real life
	app, _ := client.New(base, "k")
	ctx := t.Context()
	relay := func(method, url string, access sessiond.Secret, nonce string) client.DPoPProof {
		proof, err := user.Proof(method, url, access, nonce)
		if err != nil {
			t.Fatal(err)
		}
		return client.DPoPProof{Proof: proof, HTM: method, HTU: url}
	}
	first := relay("POST", tokenURL, "", "")
	_, err := app.CreateSession(ctx, client.CreateRequest{Subject: "lee", DPoP: &first})
	var e *client.Error
	if !errors.Is(err, client.ErrUseDPoPNonce) || !errors.As(err, &e) || e.DPoPNonce == "" {
		t.Fatalf("CreateSession without the nonce = %v; want ErrUseDPoPNonce with a nonce", err)
	}
	retry := relay("POST", tokenURL, "", e.DPoPNonce)
	tr, err := app.CreateSession(ctx, client.CreateRequest{Subject: "lee", DPoP: &retry})
	if err != nil {
		t.Fatalf("CreateSession with the nonce: %v", err)
	}
	if _, err := app.VerifyBound(ctx, tr.AccessToken, relay("GET", apiURL, tr.AccessToken, tr.DPoPNonce), nil); err != nil {
		t.Fatalf("VerifyBound: %v", err)
	}
	if _, err := app.VerifyBound(ctx, tr.AccessToken, relay("GET", apiURL, "another token", tr.DPoPNonce), nil); !errors.Is(err, client.ErrInvalidDPoPProof) {
		t.Errorf("VerifyBound with a proof for another token = %v; want ErrInvalidDPoPProof", err)
	}
	if _, err := app.RefreshBound(ctx, tr.RefreshToken, relay("POST", tokenURL, "", tr.DPoPNonce), nil); err != nil {
		t.Fatalf("RefreshBound: %v", err)
	}
	jkt, err := app.CreateSession(ctx, client.CreateRequest{Subject: "lee", DPoPJKT: user.JKT()})
	if err != nil || !bytes.Contains(jkt.Session.Claims, []byte(user.JKT())) {
		t.Fatalf("CreateSession with DPoPJKT = %v", err)
	}
}
