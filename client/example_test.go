package client_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"errors"
	"fmt"
	"log"
	"net/http/httptest"
	"time"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/client"
	"github.com/sessiond/sessiond/dpop"
	"github.com/sessiond/sessiond/internal/apikey"
	"github.com/sessiond/sessiond/internal/httpapi"
	"github.com/sessiond/sessiond/jwttoken"
	"github.com/sessiond/sessiond/memstore"
	"github.com/sessiond/sessiond/opaquetoken"
)

// startServer runs the sessiond API in-process for the example; a real
// deployment runs `sessiond serve` and hands its URL and an API key to
// client.New.
func startServer(ctx context.Context) (url string, stop func()) {
	life, _ := sessiond.Preset(sessiond.PresetB2C)
	ring, err := jwttoken.NewRing(time.Now(), jwttoken.RingOptions{MaxTokenLifetime: life.Refresh})
	if err != nil {
		log.Fatal(err)
	}
	signed, err := jwttoken.New(ring, jwttoken.Options{Issuer: "https://auth.example.com", Audience: "example-app"})
	if err != nil {
		log.Fatal(err)
	}
	m, err := sessiond.New(ctx, sessiond.Options{
		Strategy: sessiond.StrategyHybrid, Store: memstore.New(), Signed: signed, Opaque: opaquetoken.Codec{}, Lifetimes: life,
	})
	if err != nil {
		log.Fatal(err)
	}
	h, err := httpapi.New(httpapi.Options{
		Manager: m,
		Authenticate: func(_ context.Context, key sessiond.Secret) (apikey.Key, error) {
			if key == "example-api-key" {
				return apikey.Key{ID: "key_1", Scopes: []apikey.Scope{apikey.ScopeSessionsWrite, apikey.ScopeVerify}}, nil
			}
			return apikey.Key{}, errors.New("unknown API key")
		},
		JWKS: ring.JWKS,
	})
	if err != nil {
		log.Fatal(err)
	}
	srv := httptest.NewServer(h)
	return srv.URL, func() { srv.Close(); m.Close() }
}

// Example is a backend's use of the server: a login, a verify per
// request, a refresh, a logout, and the typed errors that follow.
func Example() {
	ctx := context.Background()
	url, stop := startServer(ctx)
	defer stop()

	c, err := client.New(url, "example-api-key")
	if err != nil {
		log.Fatal(err)
	}

	// Login: a new session and its tokens for the browser.
	tr, err := c.CreateSession(ctx, client.CreateRequest{
		Subject: "user-42",
		Client:  sessiond.Client{IP: "203.0.113.9", UserAgent: "Mozilla/5.0"},
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("access token:", tr.AccessToken) // a Secret prints redacted

	// Every request: verify the access token the browser sent.
	s, err := c.Verify(ctx, tr.AccessToken, nil)
	fmt.Println("verified:", s.Subject, err)

	// Before it expires: rotate the refresh token.
	next, err := c.Refresh(ctx, tr.RefreshToken, nil)
	fmt.Println("refreshed, same session:", err == nil && next.Session.ID == s.ID)

	// Logout, then the token no longer verifies.
	if err := c.RevokeSession(ctx, s.ID); err != nil {
		log.Fatal(err)
	}
	_, err = c.Verify(ctx, next.AccessToken, nil)
	fmt.Println("after logout:", errors.Is(err, sessiond.ErrRevoked))
	if apiErr, ok := errors.AsType[*client.Error](err); ok {
		fmt.Println(apiErr.Status, apiErr.Code)
	}

	// A wrong API key is its own error.
	bad, _ := client.New(url, "wrong-key")
	_, err = bad.Verify(ctx, next.AccessToken, nil)
	fmt.Println("wrong key:", errors.Is(err, client.ErrUnauthorized))
	// Output:
	// access token: REDACTED
	// verified: user-42 <nil>
	// refreshed, same session: true
	// after logout: true
	// 401 session_revoked
	// wrong key: true
}

// A program that holds a DPoP key itself: its sessions are bound to the
// key, and a copy of the tokens is useless without it.
func ExampleWithDPoP() {
	ctx := context.Background()
	url, stop := startServer(ctx)
	defer stop()

	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader) // never leaves this process
	if err != nil {
		log.Fatal(err)
	}
	prover, err := dpop.NewProver(key, nil)
	if err != nil {
		log.Fatal(err)
	}
	c, _ := client.New(url, "example-api-key", client.WithDPoP(prover))
	tr, err := c.CreateSession(ctx, client.CreateRequest{Subject: "backup-job"})
	if err != nil {
		log.Fatal(err)
	}
	_, err = c.Verify(ctx, tr.AccessToken, nil)
	fmt.Println("with the key:", err)

	thief, _ := client.New(url, "example-api-key") // has the token, not the key
	_, err = thief.Verify(ctx, tr.AccessToken, nil)
	fmt.Println("without it:", errors.Is(err, client.ErrInvalidDPoPProof))
	// Output:
	// with the key: <nil>
	// without it: true
}
